"""The `chatkit` command: argument handling in-process, `serve` through real uvicorn and real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.cli import build_app, main
from chatkit.stores import SQLiteStore
from tests.demo.conftest import REPO_ROOT, free_port, parse_events, user_message
from tests.http import serving

pytestmark = pytest.mark.process

SAMPLES = "tests.demo.sample_servers"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
# Long enough for a cold interpreter on a busy machine, far below the old 10 s wait for a dead database.
QUICK_FAILURE_SECONDS = 8.0


def run_cli(*args: str, cwd: Path = REPO_ROOT) -> tuple[int, str, float]:
    """Run the real `chatkit` command; its exit status, what it printed, and how long it took."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-m", "chatkit", *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )
    return finished.returncode, finished.stdout + finished.stderr, time.monotonic() - started


def one_error_line(output: str) -> str:
    """The output, which must be a single `chatkit: error:` line."""
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(argv)
    return status, capsys.readouterr().err


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_main([], capsys)
    assert status == 2
    assert "serve" in err and "demo" in err


def test_help_describes_the_serve_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "MODULE:ATTR" in out and "--store" in out and "--reload" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "no_colon_here"], "expected MODULE:ATTR"),
        (["serve", f"{SAMPLES}:"], "expected MODULE:ATTR"),
        (["serve", "surely_no_such_module:server"], "cannot import module 'surely_no_such_module'"),
        (["serve", f"{SAMPLES}:missing"], "has no attribute 'missing'"),
        (["serve", f"{SAMPLES}:NOT_A_SERVER"], "the target is an int"),
        (
            ["serve", f"{SAMPLES}:make_server_on"],
            "the factory make_server_on(store: 'Store[Any]') needs arguments; give it a store",
        ),
        (["serve", f"{SAMPLES}:make_nothing", "--store", "memory://"], "cannot take the --store store"),
        (["serve", f"{SAMPLES}:make_nothing"], "the factory returned a str"),
        (["serve", f"{SAMPLES}:make_server_later"], "not an awaitable"),
        (["serve", f"{SAMPLES}:server", "--store", "memory://"], "--store needs a factory"),
        (["serve", f"{SAMPLES}:make_server", "--store", "nosuch://x"], "--store: Unknown store URL scheme"),
        (["serve", f"{SAMPLES}:make_server", "--context", f"{SAMPLES}:NOT_A_SERVER"], "--context must name"),
    ],
)
def test_bad_targets_fail_with_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run_main(argv, capsys)
    assert status == 2
    assert err.startswith("chatkit: error: ")
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("source", "line", "cause"),
    [
        ("import os\nraise RuntimeError('no config')\n", 2, "RuntimeError: no config"),
        ("import os\nimport surely_no_such_dependency\n", 2, "ModuleNotFoundError: No module named"),
        ("x = 1\ndef broken(:\n", 2, "SyntaxError: "),
    ],
)
def test_an_error_in_the_users_module_is_one_line_naming_its_file_and_line(
    source: str, line: int, cause: str, tmp_path: Path
) -> None:
    (tmp_path / "userapp.py").write_text(source, encoding="utf-8")
    status, output, _ = run_cli("serve", "userapp:server", f"--port={free_port()}", cwd=tmp_path)
    assert status == 2
    error = one_error_line(output)
    assert error.startswith("chatkit: error: importing 'userapp' failed: " + cause), error
    assert error.endswith(f"({tmp_path / 'userapp.py'}:{line})"), error


def test_an_error_in_the_users_factory_names_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_main(["serve", f"{SAMPLES}:make_broken_server"], capsys)
    assert status == 2
    (line,) = err.strip().splitlines()
    source = Path(__file__).with_name("sample_servers.py")
    failing = next(n for n, text in enumerate(source.read_text().splitlines(), 1) if "is not configured" in text)
    assert line == (
        f"chatkit: error: the factory failed: LookupError: the model key is not configured ({source}:{failing})"
    )


def test_debug_logging_shows_the_users_traceback(tmp_path: Path) -> None:
    (tmp_path / "userapp.py").write_text("raise RuntimeError('no config')\n", encoding="utf-8")
    status, output, _ = run_cli("serve", "userapp:server", f"--port={free_port()}", "--log-level=debug", cwd=tmp_path)
    assert status == 2
    assert "Traceback" in output and 'userapp.py", line 1' in output


def test_version_names_the_installed_distribution() -> None:
    status, output, _ = run_cli("--version")
    assert status == 0
    assert output.strip() == f"chatkit-server {version('chatkit-server')}"


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize("port", ["99999", "0", "65536", "eighty", "-1"])
def test_a_bad_port_is_one_line_and_status_2(command: str, port: str) -> None:
    args = [command, f"{SAMPLES}:server"] if command == "serve" else [command]
    status, output, _ = run_cli(*args, f"--port={port}")
    assert status == 2
    line = one_error_line(output)
    assert line.startswith(f"chatkit {command}: error: argument --port: must be a TCP port number from 1 to 65535")
    assert repr(port) in line


@pytest.mark.parametrize("port", ["eighty", "70000", "-1", "0"])
def test_demo_refuses_a_bad_port_in_the_environment(
    port: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", port)
    status, err = run_main(["demo"], capsys)
    assert status == 2
    assert f"PORT must be a TCP port number from 1 to 65535, not {port!r}" in err


def test_every_option_names_its_environment_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for variable in (
        "CHATKIT_STORE, DATABASE_URL",
        "CHATKIT_PORT, PORT",
        "CHATKIT_HOST",
        "CHATKIT_TURN_POLICY",
        "CHATKIT_DRAIN_TIMEOUT",
        "CHATKIT_MAX_CONNECTIONS",
        "CHATKIT_RELOAD",
    ):
        assert f"[env: {variable}]" in shown


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CHATKIT_DRAIN_TIMEOUT", "soon", "CHATKIT_DRAIN_TIMEOUT must be a number, not 'soon'"),
        ("CHATKIT_MAX_CONNECTIONS", "2.5", "CHATKIT_MAX_CONNECTIONS must be a whole number, not '2.5'"),
        ("CHATKIT_TURN_POLICY", "maybe", "CHATKIT_TURN_POLICY must be one of wait, reject, interrupt, not 'maybe'"),
        (
            "CHATKIT_RELOAD",
            "perhaps",
            "CHATKIT_RELOAD must be one of 1, true, yes, on, 0, false, no, off, not 'perhaps'",
        ),
    ],
)
def test_an_environment_value_the_option_refuses_is_one_line(
    variable: str, value: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    status, err = run_main(["serve", f"{SAMPLES}:make_server"], capsys)
    assert (status, err.strip()) == (2, f"chatkit: error: {message}")


def test_the_environment_names_the_store_and_a_flag_wins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATKIT_PORT", str(free_port()))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/x")
    status, err = run_main(["serve", "surely_no_such_module:server"], capsys)
    assert status == 3 and "--store: PostgreSQL at postgresql://nobody@127.0.0.1:1/x" in err
    # The flag wins: the in-memory store needs no database, and the missing module is reported next.
    status, err = run_main(["serve", "surely_no_such_module:server", "--store", "memory://"], capsys)
    assert status == 2 and "cannot import module 'surely_no_such_module'" in err


def test_serve_runs_a_ready_asgi_app_under_its_limits(chatkit_process: Any) -> None:
    port = free_port()
    running = chatkit_process("serve", f"{SAMPLES}:asgi_app", "--port", str(port), port=port)
    assert httpx.get(f"{running.base_url}/custom").text == "mine"
    answer = httpx.post(f"{running.base_url}/chatkit", json=user_message("hi"), headers={"x-user": "alice"})
    assert answer.status_code == 200 and answer.text.startswith("data: ")
    assert httpx.get(f"{running.base_url}/readyz").status_code == 200
    # The head limit of `chatkit serve` holds for an app of one's own, as it does not under bare uvicorn.
    flood = httpx.get(f"{running.base_url}/custom", headers={"x-padding": "a" * 20_000})
    assert flood.status_code == 431


def test_a_ready_app_is_served_with_its_own_store(chatkit_process: Any) -> None:
    port = free_port()
    # DATABASE_URL is often set for the app itself: the store it names is not built, only checked.
    running = chatkit_process(
        "serve", f"{SAMPLES}:asgi_app", port=port, env={"CHATKIT_PORT": str(port), "DATABASE_URL": "memory://"}
    )
    assert httpx.get(f"{running.base_url}/custom").text == "mine"
    assert "warning: --store is not used" in running.output()


def test_json_logs_are_one_object_a_line_with_the_access_fields(chatkit_process: Any) -> None:
    port = free_port()
    running = chatkit_process("serve", f"{SAMPLES}:make_server", "--log-format", "json", f"--port={port}", port=port)
    listed = httpx.post(f"{running.base_url}/chatkit", json={"type": "threads.list", "params": {}})
    assert listed.status_code == 200
    running.stop()
    records = [json.loads(line) for line in running.output().splitlines() if line.strip()]
    access = [record for record in records if record["logger"] == "chatkit.access"]
    assert access and access[0]["chatkit_request_type"] == "threads.list"
    assert access[0]["http_status"] == 200 and access[0]["request_id"] == listed.headers["x-request-id"]
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    assert not any("color_message" in record for record in records)


def test_a_taken_port_is_reported_before_the_store_and_the_app(taken_port: int) -> None:
    # Neither the module nor the database exists: the port is checked before either is touched.
    status, output, elapsed = run_cli(
        "serve", "surely_no_such_module:server", "--store", "postgresql://nobody@127.0.0.1:1/x", f"--port={taken_port}"
    )
    assert status == 2
    assert one_error_line(output) == (
        f"chatkit: error: port {taken_port} on 127.0.0.1 is already in use; choose another with --port"
    )
    assert elapsed < QUICK_FAILURE_SECONDS


def test_demo_reports_a_taken_port(taken_port: int, tmp_path: Path) -> None:
    status, output, _ = run_cli("demo", f"--port={taken_port}", cwd=tmp_path)
    assert status == 2
    assert "is already in use" in one_error_line(output)
    assert not (tmp_path / "chatkit-demo.db").exists()


@pytest.mark.parametrize(
    ("store", "status", "message"),
    [
        (
            "postgresql://nobody@127.0.0.1:1/x",
            3,
            "--store: PostgreSQL at postgresql://nobody@127.0.0.1:1/x refused the connection "
            "(is PostgreSQL running there?)",
        ),
        (
            "postgresql://postgres@127.0.0.1:5432/surely_no_such_database",
            2,
            "--store: PostgreSQL at postgresql://postgres@127.0.0.1:5432/surely_no_such_database: "
            "the database does not exist",
        ),
        (
            "postgresql://surely_nobody:secret@127.0.0.1:5432/test",
            2,
            "--store: PostgreSQL at postgresql://surely_nobody:***@127.0.0.1:5432/test: authentication failed",
        ),
        ("sqlite:///no/such/folder/chat.db", 2, "--store: the directory {cwd}/no/such/folder does not exist"),
    ],
    ids=["refused", "unknown-database", "authentication", "missing-directory"],
)
def test_a_store_that_cannot_open_is_one_line(store: str, status: int, message: str, tmp_path: Path) -> None:
    port = f"--port={free_port()}"
    returned, output, elapsed = run_cli("serve", f"{SAMPLES}:make_server", "--store", store, port, cwd=tmp_path)
    assert returned == status
    assert one_error_line(output) == "chatkit: error: " + message.format(cwd=tmp_path)
    assert elapsed < QUICK_FAILURE_SECONDS


def test_debug_logging_shows_the_full_cause() -> None:
    store = "postgresql://nobody@127.0.0.1:1/x"
    port = f"--port={free_port()}"
    status, output, _ = run_cli("serve", f"{SAMPLES}:make_server", f"--store={store}", port, "--log-level=debug")
    assert status == 3
    assert "Traceback" in output
    assert "Connection refused" in output
    assert output.strip().splitlines()[-1].startswith("chatkit: error: --store: PostgreSQL at")


def test_a_reachable_store_passes_the_check(chatkit_process: Any) -> None:
    port = free_port()
    running = chatkit_process("serve", f"{SAMPLES}:make_server", "--store", POSTGRES, "--port", str(port), port=port)
    response = httpx.post(f"{running.base_url}/chatkit", json=user_message("on postgres"), timeout=10)
    assert "echo: on postgres (for local)" in response.text
    assert running.stop() == 0


async def test_serve_app_runs_a_factory_on_the_store_from_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = build_app(f"{SAMPLES}:make_server", "sqlite:///served.db")
    async with serving(app, lifespan="on") as base_url, httpx.AsyncClient(base_url=base_url) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert '<meta name="chatkit-endpoint" content="/chatkit">' in page.text
        response = await client.post("/chatkit", json=user_message("hello there"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_events(response.content)
    thread_id = events[0]["thread"]["id"]
    answers = [
        e["item"] for e in events if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    ]
    assert [a["content"][0]["text"] for a in answers] == ["echo: hello there (for local)"]

    # The app closed the store on shutdown; the thread is in the file the URL named.
    async with SQLiteStore(tmp_path / "served.db") as store:
        items = await store.load_thread_items(thread_id, None, 10, "asc", {"user_id": "local"})
    assert [item.type for item in items.data] == ["user_message", "assistant_message"]


async def test_serve_app_uses_the_context_builder_it_is_given() -> None:
    app = build_app(f"{SAMPLES}:server", None, f"{SAMPLES}:header_context")
    async with serving(app, lifespan="on") as base_url, httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/chatkit", json=user_message("hi"), headers={"X-User": "ada"})
        events = parse_events(response.content)
    texts = [e["item"]["content"][0]["text"] for e in events if e.get("item", {}).get("type") == "assistant_message"]
    assert texts == ["echo: hi (for ada)"]


async def test_serve_app_ships_the_playground_files_and_nothing_else() -> None:
    app = build_app(f"{SAMPLES}:server")
    async with serving(app, lifespan="on") as base_url, httpx.AsyncClient(base_url=base_url) as client:
        for name, kind in [("app.js", "javascript"), ("style.css", "text/css"), ("official.html", "text/html")]:
            response = await client.get(f"/playground/{name}")
            assert response.status_code == 200, name
            assert kind in response.headers["content-type"]
        assert (await client.get("/playground/../__init__.py")).status_code == 404
        assert (await client.get("/playground/__init__.py")).status_code == 404


def test_serve_command_serves_a_module_attribute(chatkit_process: Any, tmp_path: Path) -> None:
    port = free_port()
    running = chatkit_process("serve", f"{SAMPLES}:server", "--port", str(port), port=port)
    response = httpx.post(f"{running.base_url}/chatkit", json=user_message("over the wire"), timeout=10)
    events = parse_events(response.content)
    assert events[0]["type"] == "thread.created"
    assert any(
        e["type"] == "thread.item.done"
        and e["item"]["content"]
        == [{"type": "output_text", "text": "echo: over the wire (for local)", "annotations": []}]
        for e in events
    )
    assert running.stop() == 0
    assert f"Uvicorn running on http://127.0.0.1:{port}" in running.output()


def test_an_origin_with_another_scheme_is_another_site(chatkit_process: Any) -> None:
    """`https://host:port` is not the origin of a server reached as `http://host:port`, nor the reverse."""
    port = free_port()
    running = chatkit_process("serve", f"{SAMPLES}:server", "--port", str(port), port=port)
    listing = {"type": "threads.list", "params": {}}

    def answer(origin: str, **headers: str) -> int:
        sent = {"origin": origin, **headers}
        return httpx.post(f"{running.base_url}/chatkit", json=listing, headers=sent, timeout=10).status_code

    assert answer(f"http://127.0.0.1:{port}") == 200
    assert answer(f"https://127.0.0.1:{port}") == 403
    # Behind a TLS proxy it trusts (loopback, by default) the request is https: a plain-HTTP page is not it.
    assert answer(f"https://127.0.0.1:{port}", **{"x-forwarded-proto": "https"}) == 200
    assert answer(f"http://127.0.0.1:{port}", **{"x-forwarded-proto": "https"}) == 403
    assert running.stop() == 0


def test_forwarded_headers_count_only_from_trusted_proxies(chatkit_process: Any) -> None:
    port = free_port()
    running = chatkit_process(
        "serve", f"{SAMPLES}:server", "--port", str(port), "--forwarded-allow-ips", "192.0.2.1", port=port
    )
    spoofed = httpx.post(
        f"{running.base_url}/chatkit",
        json={"type": "threads.list", "params": {}},
        headers={"origin": f"https://127.0.0.1:{port}", "x-forwarded-proto": "https"},
        timeout=10,
    )
    assert spoofed.status_code == 403
    assert spoofed.json()["error"]["code"] == "cross_site_request"
    assert running.stop() == 0


def test_serve_with_reload_serves_and_stops(chatkit_process: Any) -> None:
    port = free_port()
    running = chatkit_process(
        "serve", f"{SAMPLES}:make_server", "--store", "memory://", "--reload", "--port", str(port), port=port
    )
    response = httpx.post(f"{running.base_url}/chatkit", json=user_message("reloaded"), timeout=10)
    assert "echo: reloaded (for local)" in response.text
    assert running.stop() == 0
    assert "reloader" in running.output().lower()


async def test_the_playground_page_carries_its_options_as_json_that_cannot_end_the_script() -> None:
    from starlette.applications import Starlette

    from chatkit.playground import playground_routes

    options = {"startScreen": {"greeting": "</script><script>alert(1)</script>", "prompts": []}}
    app = Starlette(routes=playground_routes("/api", options))
    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        page = (await client.get("/")).text
    assert "<script>alert(1)" not in page
    start = page.index('<script id="chatkit-options" type="application/json">') + len(
        '<script id="chatkit-options" type="application/json">'
    )
    assert json.loads(page[start : page.index("</script>", start)]) == options
    assert '<meta name="chatkit-endpoint" content="/api">' in page

"""The `chatkit` command: argument handling in-process, `serve` through real uvicorn and real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.cli import build_app, main
from chatkit.stores import SQLiteStore
from tests.demo.conftest import free_port, parse_events, user_message
from tests.http import serving

SAMPLES = "tests.demo.sample_servers"


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
        (["serve", f"{SAMPLES}:NOT_A_SERVER"], "the target is a int"),
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


def test_a_bad_port_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", f"{SAMPLES}:server", "--port", "eighty"])
    assert exit_info.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["eighty", "70000", "-1"])
def test_demo_refuses_a_bad_port_in_the_environment(
    port: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", port)
    status, err = run_main(["demo"], capsys)
    assert status == 2
    assert f"PORT must be a TCP port number, not {port!r}" in err


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


def test_serve_with_reload_serves_and_stops(chatkit_process: Any) -> None:
    port = free_port()
    running = chatkit_process(
        "serve", f"{SAMPLES}:make_server", "--store", "memory://", "--reload", "--port", str(port), port=port
    )
    response = httpx.post(f"{running.base_url}/chatkit", json=user_message("reloaded"), timeout=10)
    assert "echo: reloaded (for local)" in response.text
    assert running.stop() == 0
    assert "reloader" in running.output().lower()

"""The README's quick start as a new user runs it: the built wheel in a fresh venv, then the examples.

The install line is taken from the README (with the wheel in place of the package name), and so
are the FastAPI example and the `process()` example; they run against a throw-away PostgreSQL
database given as `DATABASE_URL` and SQLite in a scratch directory. pip reuses its cache, so only the first run is slow.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version as distribution_version
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.http import free_port, parse_events, user_message
from tests.stores.backends import POSTGRES_DSN

pytestmark = [pytest.mark.service, pytest.mark.process]

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PACKAGE = "chatkit-server"
INSTALL_SECONDS = 600
STARTUP_SECONDS = 60.0


def readme_blocks(language: str) -> list[str]:
    """The README's fenced blocks in `language`, in order."""
    return [body for fence, body in FENCE.findall(README) if fence == language]


def install_arguments() -> list[str]:
    """The arguments of the README's `pip install` line for the package itself."""
    lines = [line for block in readme_blocks("sh") for line in block.splitlines() if line.startswith("pip install")]
    (line,) = [line for line in lines if PACKAGE in line]
    return shlex.split(line)[2:]


def example(marker: str) -> str:
    """The README's Python block containing `marker`."""
    (code,) = [block for block in readme_blocks("python") if marker in block]
    return code


def run(args: list[str], *, cwd: Path, timeout: float = INSTALL_SECONDS) -> str:
    finished = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert finished.returncode == 0, f"{' '.join(args)} failed:\n{finished.stdout}\n{finished.stderr}"
    return finished.stdout


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding only the wheel built from this tree, installed as the README says."""
    scratch = tmp_path_factory.mktemp("fresh-install")
    dist = scratch / "dist"
    run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "-w", str(dist)], cwd=ROOT)
    (wheel,) = dist.glob("chatkit_server-*.whl")
    venv = scratch / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=scratch)
    arguments = [re.sub(rf"^{re.escape(PACKAGE)}(?=\[|$)", str(wheel), argument) for argument in install_arguments()]
    assert str(wheel) in " ".join(arguments), arguments
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *arguments], cwd=scratch)
    return venv


def test_the_readme_names_the_extras_the_examples_need() -> None:
    assert install_arguments() == ["chatkit-server[serve,postgres]", "fastapi"]


def test_the_fastapi_example_keeps_away_from_the_test_database() -> None:
    (default,) = re.findall(r'"(postgresql://[^"]+)"', example("from fastapi import"))
    assert default.rsplit("/", 1)[1] == "chatkit", default


@pytest.fixture
def example_database() -> Iterator[str]:
    """A database of its own for the example, dropped afterwards (the test suite's own is `test`)."""
    name = f"chatkit_readme_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield POSTGRES_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def fastapi_example(fresh_venv: Path, example_database: str, tmp_path: Path) -> Iterator[str]:
    """The README's FastAPI example saved as app.py and run with the venv's `chatkit serve`, as the README says."""
    (tmp_path / "app.py").write_text(example("from fastapi import"), encoding="utf-8")
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["DATABASE_URL"] = example_database
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(fresh_venv / "bin" / "chatkit"), "serve", "app:app", "--port", str(port), "--drain-delay", "0"],
            cwd=tmp_path,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(base_url, timeout=1.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.timeout(INSTALL_SECONDS + 120)
def test_the_fastapi_example_answers_in_a_fresh_venv(fastapi_example: str) -> None:
    with httpx.Client(base_url=fastapi_example, timeout=30) as client:
        refused = client.post("/chatkit", json=user_message("hello"))
        assert refused.status_code == 401
        assert refused.json()["error"]["message"] == "sign in first"

        answered = client.post("/chatkit", json=user_message("hello"), headers={"X-User-Id": "alice"})
        assert answered.status_code == 200
        assert answered.headers["content-type"].startswith("text/event-stream")
        events = parse_events(answered.content)
        texts = [
            event["item"]["content"][0]["text"]
            for event in events
            if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message"
        ]
        assert texts == ["Hello, alice!"]

        # The playground the README sends people to is there, and its files came with the wheel.
        page = client.get("/")
        assert page.status_code == 200 and "<title>ChatKit playground</title>" in page.text
        assert client.get("/playground/app.js").status_code == 200


@pytest.mark.timeout(INSTALL_SECONDS + 120)
def test_the_process_example_and_the_command_run_in_a_fresh_venv(fresh_venv: Path, tmp_path: Path) -> None:
    python = str(fresh_venv / "bin" / "python")
    output = run([python, "-c", example("asyncio.run(main())")], cwd=tmp_path, timeout=120)
    assert '"text":"You said: Hi"' in output
    version = run([str(fresh_venv / "bin" / "chatkit"), "--version"], cwd=tmp_path, timeout=60)
    assert version.strip() == f"chatkit-server {distribution_version(PACKAGE)}"

"""A deployment of real parts for the tests: `chatkit serve` processes on one PostgreSQL database,
behind Debian's nginx configured by `deploy/nginx.conf`.

Everything listens on free loopback ports and lives in a temporary folder and a database of its
own, both removed at the end. nginx refuses nothing as root but should not run as root: under root
it runs as `nobody`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from tests.deploy.pgbouncer import free_port
from tests.stores.backends import POSTGRES_DSN, require_postgres

ROOT = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
CHATKIT = Path(sys.executable).parent / "chatkit"
_UPSTREAM = re.compile(r"^(\s*)server 127\.0\.0\.1:\d+ (.*)$", re.MULTILINE)
_LISTEN = re.compile(r"^(\s*)listen 127\.0\.0\.1:\d+;$", re.MULTILINE)


def nginx_config(port: int, upstreams: list[int]) -> str:
    """`deploy/nginx.conf` listening on `port` and balancing over `upstreams`, nothing else changed."""
    text = NGINX_CONF.read_text()
    documented = _UPSTREAM.findall(text)
    assert len(documented) == len(upstreams), "deploy/nginx.conf lists one upstream per test process"
    ports = iter(upstreams)
    text = _UPSTREAM.sub(lambda match: f"{match[1]}server 127.0.0.1:{next(ports)} {match[2]}", text)
    text, listens = _LISTEN.subn(lambda match: f"{match[1]}listen 127.0.0.1:{port};", text)
    assert listens == 1, "deploy/nginx.conf has one listen line"
    return text


def with_database(dsn: str, database: str, application_name: str | None = None) -> str:
    """`dsn` naming another database (and an `application_name`, if given)."""
    parts = urlsplit(dsn)
    query = f"application_name={application_name}" if application_name else ""
    return urlunsplit(parts._replace(path=f"/{database}", query=query))


class Nginx:
    """nginx run in the foreground with a temporary prefix, as `nobody` under root."""

    def __init__(self, folder: Path, port: int, upstreams: list[int]) -> None:
        self.folder = folder
        self.port = port
        for name in ("logs", "tmp"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / "nginx.conf").write_text(nginx_config(port, upstreams))
        if os.geteuid() == 0:
            for path in [folder, *folder.rglob("*")]:
                shutil.chown(path, "nobody")
        prefix = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        with (folder / "logs" / "stderr.log").open("ab") as output:
            self.process = subprocess.Popen(
                [*prefix, NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        """nginx's error log so far."""
        logs = [self.folder / "logs" / name for name in ("stderr.log", "error.log")]
        return "\n".join(path.read_text(errors="replace") for path in logs if path.exists())

    def stop(self) -> None:
        """Stop nginx (a quick shutdown: open streams are cut)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Deployment:
    """`count` `chatkit serve` processes on one fresh database, behind nginx at `url`; the
    processes reach PostgreSQL directly, or through PgBouncer in transaction mode (`through`)."""

    def __init__(self, count: int = 3, through: str = "postgres") -> None:
        require_postgres()
        self.through = through
        self.server_dsn = POSTGRES_DSN
        if through == "pgbouncer":
            from tests.deploy.pgbouncer import require_pgbouncer

            self.server_dsn = require_pgbouncer()
        if not os.path.exists(NGINX):
            message = "nginx is not installed (make test installs it as root: apt-get install nginx)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        self.database = f"chatkit_deploy_{uuid.uuid4().hex[:8]}"
        self.folder = Path(tempfile.mkdtemp(prefix="chatkit-deploy-"))
        # nginx, run as another user, must reach its prefix inside.
        self.folder.chmod(0o755)
        self.ports = [free_port() for _ in range(count)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self.secret = uuid.uuid4().hex
        self.nginx: Nginx | None = None
        self.url = ""

    def application_name(self, index: int) -> str:
        """The `application_name` of process `index`'s store and attachment sessions."""
        return f"{self.database}_{index}"

    def start(self) -> None:
        """Create the database, start the processes and nginx, and wait until all of them answer."""
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"'.encode())
        for index in range(len(self.ports)):
            self.start_process(index)
        nginx_port = free_port()
        self.nginx = Nginx(self.folder / "nginx", nginx_port, self.ports)
        self.url = f"http://127.0.0.1:{nginx_port}"
        for index in range(len(self.ports)):
            self.wait_ready(self.process_url(index))
        self.wait_ready(self.url)

    def start_process(self, index: int) -> None:
        """Start (or restart) `chatkit serve` process `index` on its port."""
        env = {
            **os.environ,
            "CHATKIT_DEPLOY_DSN": with_database(self.server_dsn, self.database, self.application_name(index)),
            "CHATKIT_DEPLOY_SECRET": self.secret,
            "PYTHONWARNINGS": "error",
        }
        log = (self.folder / f"serve-{index}.log").open("ab")
        self.processes[index] = subprocess.Popen(
            [
                str(CHATKIT),
                "serve",
                "tests.deploy.app:make_server",
                "--context",
                "tests.deploy.app:user_context",
                # A new message stops the running turn wherever it runs; a turn outlives its client.
                "--turn-policy",
                "interrupt",
                "--disconnect-policy",
                "finish",
                "--port",
                str(self.ports[index]),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def process_url(self, index: int) -> str:
        """The base URL of process `index`, bypassing nginx."""
        return f"http://127.0.0.1:{self.ports[index]}"

    def wait_ready(self, url: str, timeout: float = 30) -> None:
        """Wait until `url` answers a `threads.list`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = httpx.post(
                    f"{url}/chatkit", json={"type": "threads.list", "params": {}}, headers={"x-user": "probe"}
                )
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s:\n{self.logs()}")
            time.sleep(0.1)

    def restart(self, index: int, within: float = 40) -> float:
        """SIGTERM process `index` as a rolling deploy does, wait for its drain, start it again; seconds it took."""
        process = self.processes[index]
        assert process is not None
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(within)
        self.start_process(index)
        self.wait_ready(self.process_url(index))
        return time.monotonic() - started

    def kill(self, index: int) -> None:
        """`kill -9` process `index`."""
        process = self.processes[index]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def nginx_errors(self) -> str:
        """nginx's error log (what it did with each refused or failed upstream)."""
        return self.nginx.log() if self.nginx is not None else ""

    def logs(self) -> str:
        """Every process's output and nginx's error log."""
        parts = [f"--- {path.name}\n{path.read_text(errors='replace')}" for path in sorted(self.folder.glob("*.log"))]
        if self.nginx is not None:
            parts.append(f"--- nginx\n{self.nginx.log()}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop nginx and the processes, drop the database and the folder."""
        if self.nginx is not None:
            self.nginx.stop()
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in self.processes:
            if process is not None:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'.encode())
        shutil.rmtree(self.folder, ignore_errors=True)

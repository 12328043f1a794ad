"""Debian's PgBouncer in transaction-pooling mode in front of the test PostgreSQL server.

One PgBouncer serves the whole test run: started on first use on a free loopback port, with its
configuration, socket and log in a temporary directory, and stopped when the run ends. PgBouncer
refuses to run as root, so under root it runs as the `postgres` user. Without the `pgbouncer`
binary the tests that need it skip (fail under CI=true); `make test` installs it when run as root.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.stores.backends import POSTGRES_DSN, require_postgres

PGBOUNCER = "/usr/sbin/pgbouncer"
# Each running turn pins one server connection for its turn lock, so the pool is larger than
# PgBouncer's default of 20; the contract suites run several stores at once. Idle server
# connections close after a few seconds: the test server's max_connections is shared.
POOL_SIZE = 40

_running: list[PgBouncer] = []


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_as_unprivileged() -> list[str]:
    """The command prefix that drops root for daemons that refuse it (nothing when not root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


class PgBouncer:
    """A PgBouncer process pooling transactions onto the PostgreSQL server of `POSTGRES_DSN`."""

    def __init__(self, pool_mode: str = "transaction") -> None:
        self.pool_mode = pool_mode
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="chatkit-pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    def dsn(self, database: str | None = None) -> str:
        """A libpq URL reaching the test database through PgBouncer."""
        server = urlsplit(POSTGRES_DSN)
        name = database or server.path.lstrip("/") or "postgres"
        return f"postgresql://{server.username or 'postgres'}@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        """Write the configuration, start PgBouncer and wait until it accepts connections."""
        server = urlsplit(POSTGRES_DSN)
        user = server.username or "postgres"
        (self.folder / "users.txt").write_text(f'"{user}" ""\n')
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={server.hostname or '127.0.0.1'} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.folder}\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'users.txt'}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {POOL_SIZE}\n"
            "max_client_conn = 2000\n"
            "server_idle_timeout = 5\n"
            f"admin_users = {user}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\n"
        )
        self.folder.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            for path in self.folder.iterdir():
                shutil.chown(path, "postgres")
        self.process = subprocess.Popen(
            [*run_as_unprivileged(), PGBOUNCER, str(self.folder / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"PgBouncer exited at start-up: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PgBouncer did not listen within 15 s: {self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        """PgBouncer's log so far."""
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"

    def stop(self) -> None:
        """Stop PgBouncer and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def require_pgbouncer() -> str:
    """The DSN of the test database through the run's PgBouncer (transaction pooling); skips
    without PostgreSQL or the `pgbouncer` binary (fails instead under CI=true)."""
    require_postgres()
    if not _running:
        if not os.path.exists(PGBOUNCER):
            message = "pgbouncer is not installed (make test installs it as root: apt-get install pgbouncer)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        bouncer = PgBouncer()
        bouncer.start()
        _running.append(bouncer)
        atexit.register(bouncer.stop)
    return _running[0].dsn()

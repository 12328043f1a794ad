"""A ChatKit app on PostgreSQL, run as its own process by the two-process tests.

python -m tests.asgi.pg_app FD DSN SCHEMA TURN_POLICY
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from chatkit.asgi import create_app
from chatkit.stores import PostgresStore
from tests.asgi.conftest import user_context
from tests.asgi.scripted import ScriptedServer


def main(argv: list[str]) -> None:
    """Serve on the inherited listening socket `FD` until terminated."""
    fd, dsn, schema, policy = argv
    server = ScriptedServer(PostgresStore(dsn, schema=schema, max_size=4), words=10, delay=0.1)
    app = create_app(server, context=user_context, turn_policy=policy, turn_wait_timeout=20)  # type: ignore[arg-type]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=int(fd))])


if __name__ == "__main__":
    main(sys.argv[1:])

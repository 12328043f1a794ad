"""A ChatKit app on PostgreSQL with its turns coordinated through it, run as its own process.

python -m tests.asgi.pg_coord_app FD DSN SCHEMA TURN_POLICY DISCONNECT_POLICY [WORDS DELAY]
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
    fd, dsn, schema, policy, disconnect, *rest = argv
    words, delay = (int(rest[0]), float(rest[1])) if rest else (10, 0.1)
    server = ScriptedServer(PostgresStore(dsn, schema=schema, max_size=4), words=words, delay=delay)
    app = create_app(
        server,
        context=user_context,
        turn_policy=policy,  # type: ignore[arg-type]
        disconnect_policy=disconnect,  # type: ignore[arg-type]
        turn_wait_timeout=20,
    )
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=int(fd))])


if __name__ == "__main__":
    main(sys.argv[1:])

"""A ChatKit app keeping its threads and attachment bytes in PostgreSQL, run as its own process.

python -m tests.attachments.pg_files_app FD DSN SCHEMA
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from chatkit.asgi import create_app
from chatkit.attachments import PostgresAttachmentStore
from chatkit.stores import PostgresStore
from tests.asgi.conftest import user_context
from tests.asgi.scripted import ScriptedServer

SECRET = "shared by every process"
MAX_BYTES = 1024 * 1024


def main(argv: list[str]) -> None:
    """Serve on the inherited listening socket `FD` until terminated."""
    fd, dsn, schema = argv
    files = PostgresAttachmentStore(dsn, schema=schema, secret=SECRET, max_bytes=MAX_BYTES, chunk_size=64 * 1024)
    server = ScriptedServer(PostgresStore(dsn, schema=schema, max_size=4), files)
    app = create_app(server, context=user_context)  # type: ignore[arg-type]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=int(fd))])


if __name__ == "__main__":
    main(sys.argv[1:])

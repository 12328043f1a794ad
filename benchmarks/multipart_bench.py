"""CPU cost of a multipart upload whose part headers arrive one byte at a time.

python benchmarks/multipart_bench.py

A client controls how its body is cut into pieces; a parser that grows a header by copying it
for every piece costs time quadratic in the header's size. Printed: the header size, the CPU
time to refuse or read the body, and the ratio to a header of the smallest size (linear growth
keeps the ratio near the size ratio).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request

from chatkit.asgi._http import HTTPProblem
from chatkit.asgi._upload_bodies import upload_body

BOUNDARY = "bench"
SIZES = (1_024, 4_096, 16_384, 65_536)
COUNTS = (16, 64, 256)


def body_with_header(size: int, count: int = 1) -> bytes:
    """A multipart body whose file part carries `count` headers of `size` bytes each."""
    headers = "".join(f"X-Pad-{index}: {'p' * size}\r\n" for index in range(count))
    return (
        f"--{BOUNDARY}\r\n{headers}"
        f'Content-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n'
        f"hello\r\n--{BOUNDARY}--\r\n"
    ).encode()


async def read_in_single_bytes(body: bytes) -> str:
    """Feed `body` to the upload reader one byte per ASGI message; how it ended."""
    pieces = iter([body[index : index + 1] for index in range(len(body))])

    async def receive() -> dict[str, Any]:
        piece = next(pieces, None)
        return {"type": "http.request", "body": piece or b"", "more_body": piece is not None}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/chatkit/upload",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
        "query_string": b"",
    }
    try:
        upload = await upload_body(Request(scope, receive), 10 * 1024 * 1024)
        async for _ in upload.chunks:
            pass
    except HTTPProblem as problem:
        return f"{problem.status} {problem.code}: {problem.message}"
    return "read"


def measure(label: str, bodies: list[tuple[int, bytes]]) -> None:
    """Print the CPU time of reading each body one byte at a time, against the first."""
    baseline: float | None = None
    print(f"{label:>14} {'body bytes':>10} {'CPU s':>8} {'x first':>8}  outcome")
    for value, body in bodies:
        started = time.process_time()
        outcome = asyncio.run(read_in_single_bytes(body))
        spent = time.process_time() - started
        baseline = baseline or spent
        print(f"{value:>14} {len(body):>10} {spent:>8.3f} {spent / baseline:>8.1f}  {outcome}")


def main() -> None:
    measure("header bytes", [(size, body_with_header(size)) for size in SIZES])
    measure("1 KiB headers", [(count, body_with_header(1_024, count)) for count in COUNTS])


if __name__ == "__main__":
    main()

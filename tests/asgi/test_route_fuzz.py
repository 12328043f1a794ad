"""Property tests of the routes that take an id in the path or a token in the query.

Whatever the path segment and the query (any Unicode, percent-encodings, repeated parameters,
trailing slashes, long values), the answer is ours: below 500, and an error from our vocabulary,
with nothing logged at ERROR.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.stores import MemoryStore
from tests.asgi.conftest import user_context
from tests.asgi.scripted import ScriptedServer

ERROR_CODES = {
    "already_uploaded",
    "attachment_rejected",
    "cross_site_request",
    "forbidden",
    "invalid_request",
    "invalid_token",
    "method_not_allowed",
    "not_found",
    "payload_too_large",
    "unauthorized",
    "unsupported_media_type",
}
ROUTES = [
    ("GET", "/chatkit/files/{}"),
    ("HEAD", "/chatkit/files/{}"),
    ("PUT", "/chatkit/uploads/{}"),
    ("GET", "/chatkit/threads/{}/stream"),
]

texts = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", ".", "..", "%", "%zz", "%C3%A9", "%00", "9999999999." + "0" * 32 + ".AAAA", "x" * 3000]
)


def encoded(value: str, raw: bool) -> str:
    """`value` percent-encoded, or as it is where a URL allows it (raw, for what a client may send)."""
    return quote(value, safe="%/.~" if raw else "")


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """A method, a raw URL path and query, and headers for one of the routes."""
    method, template = draw(st.sampled_from(ROUTES))
    path = template.format(encoded(draw(texts), draw(st.booleans())))
    if draw(st.booleans()):
        path += "/"
    names = st.sampled_from(["token", "after", "token", "x"]) | texts
    pairs = draw(st.lists(st.tuples(names, texts), max_size=4))
    query = "&".join(f"{encoded(name, False)}={encoded(value, draw(st.booleans()))}" for name, value in pairs)
    headers = {"x-user": draw(st.sampled_from(["alice", "bob"]))} if draw(st.booleans()) else {}
    return method, path + ("?" + query if query else ""), headers


class Errors(logging.Handler):
    """Collects the records logged at ERROR or above."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    with tempfile.TemporaryDirectory() as folder:
        files = LocalAttachmentStore[Any](Path(folder) / "files", secret="fuzz", max_bytes=4096)
        yield create_app(ScriptedServer(MemoryStore(), files), context=user_context)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_every_answer_is_ours_and_below_500(app: Any, request: tuple[str, str, dict[str, str]]) -> None:
    method, target, headers = request
    errors = Errors()
    logging.getLogger().addHandler(errors)
    try:
        response = asyncio.run(send(app, method, target, headers))
    finally:
        logging.getLogger().removeHandler(errors)
    assert response.status_code < 500, (target, response.status_code, response.text)
    assert errors.records == [], [record.getMessage() for record in errors.records]
    if response.status_code >= 400 and method != "HEAD":
        assert response.json()["error"]["code"] in ERROR_CODES, (target, response.text)


async def send(app: Any, method: str, target: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        request = client.build_request(method, "http://testserver", headers=headers, content=b"x" * 3)
        path, _, query = target.partition("?")
        request.url = request.url.copy_with(raw_path=(path + ("?" + query if query else "")).encode("ascii"))
        return await asyncio.wait_for(client.send(request), 10)

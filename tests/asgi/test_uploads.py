"""Attachment uploads (two-phase and direct), file serving and deletion, over real HTTP."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chatkit.attachments import LocalAttachmentStore
from tests.asgi.conftest import Harness
from tests.http import user_message


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
async def h(make_harness: Any) -> Any:
    async with make_harness() as harness:
        yield harness


async def announce(h: Harness, name: str, mime_type: str, size: int, user: str = "alice") -> Any:
    """`attachments.create`; the response."""
    return await h.post(
        {"type": "attachments.create", "params": {"name": name, "size": size, "mime_type": mime_type}}, user=user
    )


def files_on_disk(files: LocalAttachmentStore[Any]) -> list[str]:
    """Paths of every file below the attachment directory (reserved ids are empty directories)."""
    return sorted(str(path.relative_to(files.root)) for path in files.root.rglob("*") if path.is_file())


def key(files: LocalAttachmentStore[Any], user: str = "alice") -> str:
    """The directory (and token) key of a user's files."""
    return files.scope_key({"user_id": user})


async def test_two_phase_upload_of_an_image(h: Harness) -> None:
    image = png()
    created = await announce(h, "red.png", "image/png", len(image))
    assert created.status_code == 200, created.text
    attachment = created.json()
    assert attachment["type"] == "image"
    descriptor = attachment["upload_descriptor"]
    assert descriptor["method"] == "PUT"
    assert descriptor["url"].startswith(f"{h.url}/chatkit/uploads/{attachment['id']}?token=")
    assert "metadata" not in attachment

    # The preview is not there before the upload.
    assert (await h.client.get(attachment["preview_url"])).status_code == 404

    uploaded = await h.client.put(descriptor["url"], content=image, headers={"x-user": "alice"})
    assert uploaded.status_code == 200, uploaded.text
    body = uploaded.json()
    assert "upload_descriptor" not in body
    assert body["id"] == attachment["id"] and body["mime_type"] == "image/png"
    stored = await h.store.load_attachment(attachment["id"], {"user_id": "alice"})
    assert stored.upload_descriptor is None

    preview = await h.client.get(body["preview_url"])
    assert preview.status_code == 200
    assert preview.content == image
    assert preview.headers["content-type"] == "image/png"
    assert preview.headers["x-content-type-options"] == "nosniff"

    again = await h.client.put(descriptor["url"], content=image, headers={"x-user": "alice"})
    assert again.status_code == 409

    # The attachment travels with a message, and deleting it removes the file.
    response, events = await h.stream(user_message("look", attachments=[attachment["id"]]))
    assert events[1]["item"]["attachments"][0]["id"] == attachment["id"]
    deleted = await h.post({"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}})
    assert deleted.status_code == 200
    assert files_on_disk(h.files) == []
    assert (await h.client.get(body["preview_url"])).status_code == 404


async def test_two_phase_upload_by_multipart_post(h: Harness) -> None:
    text = b"hello, file\n"
    attachment = (await announce(h, "notes.txt", "text/plain", len(text))).json()
    assert attachment["type"] == "file"
    uploaded = await h.client.post(
        attachment["upload_descriptor"]["url"],
        files={"file": ("notes.txt", text, "text/plain")},
        headers={"x-user": "alice"},
    )
    assert uploaded.status_code == 200, uploaded.text
    served = await h.client.get(f"{h.url}/chatkit/files/{attachment['id']}", headers={"x-user": "alice"})
    assert served.status_code == 200 and served.content == text
    assert served.headers["content-disposition"].startswith("attachment;")


async def test_direct_upload(h: Harness) -> None:
    image = png()
    response = await h.client.post(
        f"{h.url}/chatkit/upload", files={"file": ("../../evil.png", image, "image/png")}, headers={"x-user": "alice"}
    )
    assert response.status_code == 200, response.text
    attachment = response.json()
    assert attachment["type"] == "image" and attachment["name"] == "evil.png"
    assert "upload_descriptor" not in attachment
    assert attachment["id"].startswith("atc_")
    assert (await h.client.get(attachment["preview_url"])).content == image
    folder = f"{key(h.files)}/{attachment['id']}"
    assert files_on_disk(h.files) == [f"{folder}/data", f"{folder}/meta.json", f"{folder}/uploaded"]
    record = await h.store.load_attachment(attachment["id"], {"user_id": "alice"})
    assert record.name == "evil.png"


async def test_files_are_scoped_to_their_owner(h: Harness) -> None:
    response = await h.client.post(
        f"{h.url}/chatkit/upload", files={"file": ("a.txt", b"secret", "text/plain")}, headers={"x-user": "alice"}
    )
    url = f"{h.url}/chatkit/files/{response.json()['id']}"
    assert (await h.client.get(url, headers={"x-user": "alice"})).status_code == 200
    assert (await h.client.get(url, headers={"x-user": "bob"})).status_code == 404
    assert (await h.client.get(url)).status_code == 401
    assert (await h.client.get(url + "?token=0.forged")).status_code == 403


async def test_oversize_uploads_are_413(h: Harness) -> None:
    too_big = b"a" * (h.files.max_bytes + 1)
    announced = await announce(h, "big.txt", "text/plain", len(too_big))
    assert announced.status_code == 413
    assert announced.json()["error"]["code"] == "attachment_rejected"

    # A client that announces less than it sends is stopped at the upload.
    attachment = (await announce(h, "big.txt", "text/plain", 10)).json()
    raw = await h.client.put(attachment["upload_descriptor"]["url"], content=too_big, headers={"x-user": "alice"})
    assert raw.status_code == 413
    multipart = await h.client.post(
        attachment["upload_descriptor"]["url"],
        files={"file": ("big.txt", b"a" * (h.files.max_bytes + 70_000), "text/plain")},
        headers={"x-user": "alice"},
    )
    assert multipart.status_code == 413
    direct = await h.client.post(
        f"{h.url}/chatkit/upload", files={"file": ("big.txt", too_big, "text/plain")}, headers={"x-user": "alice"}
    )
    assert direct.status_code == 413
    assert files_on_disk(h.files) == []


async def test_types_are_checked_against_the_content(h: Harness) -> None:
    refused = await announce(h, "tool.exe", "application/x-msdownload", 10)
    assert refused.status_code == 415

    attachment = (await announce(h, "fake.png", "image/png", 20)).json()
    disguised = await h.client.put(
        attachment["upload_descriptor"]["url"], content=b"MZ\x90\x00 not an image", headers={"x-user": "alice"}
    )
    assert disguised.status_code == 415
    assert "not image/png" in disguised.json()["error"]["message"]

    pdf_as_text = await h.client.post(
        f"{h.url}/chatkit/upload",
        files={"file": ("doc.txt", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "text/plain")},
        headers={"x-user": "alice"},
    )
    assert pdf_as_text.status_code == 415
    binary = await h.client.post(
        f"{h.url}/chatkit/upload",
        files={"file": ("blob.bin", b"\x00\x01\x02\x03", "application/octet-stream")},
        headers={"x-user": "alice"},
    )
    assert binary.status_code == 415
    assert files_on_disk(h.files) == []


async def test_upload_tokens_must_be_valid_and_fresh(h: Harness) -> None:
    attachment = (await announce(h, "a.txt", "text/plain", 5)).json()
    url = urlsplit(attachment["upload_descriptor"]["url"])
    base = f"{h.url}{url.path}"

    forged = await h.client.put(f"{base}?token=9999999999.AAAA", content=b"hello", headers={"x-user": "alice"})
    assert forged.status_code == 403
    missing = await h.client.put(base, content=b"hello", headers={"x-user": "alice"})
    assert missing.status_code == 403
    expired_token = h.files.sign("upload", attachment["id"], -1, key(h.files))
    expired = await h.client.put(f"{base}?token={expired_token}", content=b"hello", headers={"x-user": "alice"})
    assert expired.status_code == 403
    # A token for one attachment does not open another, nor does a preview token allow uploads.
    other = (await announce(h, "b.txt", "text/plain", 5)).json()
    token = url.query.removeprefix("token=")
    swapped = await h.client.put(
        f"{h.url}/chatkit/uploads/{other['id']}?token={token}", content=b"hello", headers={"x-user": "alice"}
    )
    assert swapped.status_code == 403
    preview_token = h.files.sign("file", attachment["id"], None, key(h.files))
    wrong_purpose = await h.client.put(f"{base}?token={preview_token}", content=b"hello", headers={"x-user": "alice"})
    assert wrong_purpose.status_code == 403
    # Someone else holding the link still is not the owner.
    stolen = await h.client.put(attachment["upload_descriptor"]["url"], content=b"hello", headers={"x-user": "bob"})
    assert stolen.status_code == 404
    assert files_on_disk(h.files) == []


@pytest.mark.parametrize(
    "path",
    [
        "/chatkit/uploads/..%2F..%2Fescape",
        "/chatkit/uploads/%2E%2E",
        "/chatkit/uploads/.hidden",
        "/chatkit/files/..%2F..%2Fetc%2Fpasswd",
        "/chatkit/files/%2E%2E",
        "/chatkit/files/a%00b",
    ],
)
async def test_path_traversal_is_refused(h: Harness, path: str, tmp_path: Path) -> None:
    (tmp_path / "escape").write_bytes(b"outside")
    method = "GET" if "/files/" in path else "PUT"
    response = await h.client.request(method, f"{h.url}{path}?token=0.x", content=b"x", headers={"x-user": "alice"})
    assert response.status_code in (403, 404)
    assert (tmp_path / "escape").read_bytes() == b"outside"
    assert files_on_disk(h.files) == []


async def test_signed_ids_with_dots_never_reach_the_disk(h: Harness) -> None:
    token = h.files.sign("upload", "..", 60, key(h.files))
    response = await h.client.put(
        f"{h.url}/chatkit/uploads/..?token={token}", content=b"x", headers={"x-user": "alice"}
    )
    assert response.status_code in (404, 405)
    token = h.files.sign("file", "x.json", None, key(h.files))
    meta = await h.client.get(f"{h.url}/chatkit/files/x.json?token={token}")
    assert meta.status_code == 404


async def test_a_multipart_body_cut_off_mid_file_is_refused_unparsed(h: Harness) -> None:
    """Found by the upload fuzzer: parsing a cut-off part leaked the parser's temporary file."""
    body = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    response = await h.client.post(
        f"{h.url}/chatkit/upload",
        content=body + png()[:10],
        headers={"x-user": "alice", "content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 400, response.text
    assert "boundary" in response.json()["error"]["message"]
    assert files_on_disk(h.files) == []


@pytest.mark.parametrize(
    "token",
    [
        "9999999999." + "0" * 32 + ".%C3%A9%C3%A9",  # an accented MAC
        "9999999999." + "0" * 32 + ".\u00e9",
        "%C2%B2." + "0" * 32 + ".AAAA",  # a superscript two as the expiry
        "\u00b9\u00b2." + "0" * 32 + ".AAAA",
        "9999999999.%EF%BC%90" + "0" * 31 + ".AAAA",  # a fullwidth digit in the scope key
    ],
)
async def test_tokens_that_are_not_ascii_are_403_and_nothing_is_logged(
    h: Harness, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    attachment = (await announce(h, "a.txt", "text/plain", 5)).json()
    file_url = f"{h.url}/chatkit/files/{attachment['id']}?token={token}"
    upload_url = f"{h.url}/chatkit/uploads/{attachment['id']}?token={token}"
    with caplog.at_level("ERROR"):
        answers = [
            await h.client.get(file_url),
            await h.client.head(file_url),
            await h.client.put(upload_url, content=b"hello"),
        ]
    assert [answer.status_code for answer in answers] == [403, 403, 403]
    for answer in answers[::2]:
        error = answer.json()["error"]
        assert error["code"] == "invalid_token", error
        assert "int()" not in error["message"]
    assert [record for record in caplog.records if record.levelname == "ERROR"] == []

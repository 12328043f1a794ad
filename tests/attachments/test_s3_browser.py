"""The playground's two-phase upload in Chromium, with the bytes going browser -> bucket (moto's S3).

The page announces the file to the app, `PUT`s it to the presigned bucket URL the app answered
(another origin: the bucket's CORS rule allows the page), and the app reads it back from the bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from tests.demo.conftest import RunningProcess, free_port, start_process
from tests.demo.test_browser import PIXEL, Playground, browser

from .backends import moto_endpoint, stop_moto

if TYPE_CHECKING:
    from playwright.async_api import Browser, Request

pytestmark = [pytest.mark.browser, pytest.mark.process, pytest.mark.service]

__all__ = ["browser"]  # the fixture, imported to be found here


@pytest.fixture(scope="module")
def bucket() -> Iterator[str]:
    """An empty bucket on moto's S3 server; the server stops after the module."""
    name = "browser-" + hashlib.sha256(moto_endpoint().encode()).hexdigest()[:12]
    _client().create_bucket(Bucket=name)
    yield name
    stop_moto()


@pytest.fixture
def served(bucket: str, tmp_path: Path) -> Iterator[RunningProcess]:
    """`chatkit serve` with its attachments in the bucket, the bucket allowing the page's origin."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    s3 = _client()
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [origin],
                    "AllowedMethods": ["PUT", "GET"],
                    "AllowedHeaders": ["content-type"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
    env = {"CHATKIT_TEST_S3_ENDPOINT": moto_endpoint(), "CHATKIT_TEST_S3_BUCKET": bucket}
    args = ["serve", "tests.attachments.s3_app:make_server", "--store", f"sqlite:///{tmp_path / 'chat.db'}"]
    running = start_process([*args, "--port", str(port)], cwd=tmp_path, port=port, env=env, log=tmp_path / "serve.log")
    yield running
    running.stop()


def _client():  # noqa: ANN202 - boto3's client type comes from stubs this project does not install
    """A boto3 client of moto's S3 server, to look into the bucket from outside the app."""
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint(),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


async def test_a_two_phase_upload_goes_from_the_browser_to_the_bucket(
    browser: Browser, served: RunningProcess, bucket: str
) -> None:
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    puts: list[str] = []

    def record(request: Request) -> None:
        if request.method == "PUT":
            puts.append(request.url)

    page.on("request", record)
    tab = Playground(page, served.base_url)
    await tab.open("/")
    await page.set_input_files("#file-input", str(PIXEL))
    await page.wait_for_selector("#pending-attachments .attachment.uploaded")
    # The bytes went to the bucket's origin, not through the app.
    assert len(puts) == 1 and puts[0].startswith(f"{moto_endpoint()}/{bucket}/chatkit/"), puts
    await tab.send("What did the bucket get?")
    await tab.settle()

    size = PIXEL.stat().st_size
    assert (await tab.answer_texts())[-1].strip() == f"pixel.png: {size} bytes, image/png"
    # The preview is served by the app from the bucket: it decodes to the uploaded 48x48 pixels.
    await page.wait_for_function(
        """() => document.querySelector(".item-user_message img.attachment-preview")?.naturalWidth === 48"""
    )
    listed = _client().list_objects_v2(Bucket=bucket, Prefix="chatkit/")
    keys = [entry["Key"] for entry in listed.get("Contents", [])]
    assert any(key.endswith("/data") for key in keys), keys
    await tab.screenshot("s3-two-phase-upload.png")
    assert tab.errors == []

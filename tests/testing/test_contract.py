"""The public store contracts (`chatkit.testing.contract`) held by our stores, and broken stores' failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatkit.store import AttachmentStore, Store
from chatkit.testing.contract import AttachmentStoreContract, StoreContract
from tests.attachments.backends import ATTACHMENT_BACKENDS, make_files
from tests.stores.backends import STORE_BACKENDS, make_store


class TestOurStores(StoreContract):
    """Every backend we ship, through the public contract a user's store is held to."""

    @pytest.fixture(params=STORE_BACKENDS)
    async def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store[Any]]:  # type: ignore[override]
        async with make_store(request.param, tmp_path) as store:
            yield store


class TestOurAttachmentStores(AttachmentStoreContract):
    """Every attachment store we ship, through the public attachment store contract."""

    @pytest.fixture(params=ATTACHMENT_BACKENDS)
    async def attachment_store(  # type: ignore[override]
        self, request: pytest.FixtureRequest, tmp_path: Path
    ) -> AsyncIterator[AttachmentStore[Any]]:
        async with make_files(request.param, tmp_path) as files:
            yield files.store


pytest_plugins = ["pytester"]

LEAKY_STORE = '''
import pytest

from chatkit.stores import MemoryStore
from chatkit.testing.contract import StoreContract


class LeakyStore(MemoryStore):
    """Scopes nothing: every user shares one tenant."""

    def __init__(self):
        super().__init__(scope=lambda context: "everyone")


class TestLeakyStore(StoreContract):
    @pytest.fixture
    def store(self):
        return LeakyStore()
'''

FORGETFUL_ATTACHMENT_STORE = '''
import pytest

from chatkit.store import AttachmentStore
from chatkit.testing.contract import AttachmentStoreContract
from chatkit.types import FileAttachment


class OneIdStore(AttachmentStore):
    """Gives every attachment the same id."""

    async def create_attachment(self, input, context):
        return FileAttachment(id="atc_1", name=input.name, mime_type=input.mime_type)

    async def delete_attachment(self, attachment_id, context):
        pass

    def generate_attachment_id(self, mime_type, context):
        return "atc_1"


class TestOneIdStore(AttachmentStoreContract):
    @pytest.fixture
    def attachment_store(self):
        return OneIdStore()
'''


@pytest.mark.process
@pytest.mark.parametrize(
    ("source", "passed", "message"),
    [
        (LEAKY_STORE, 10, "bob lists alice's thread"),
        (FORGETFUL_ATTACHMENT_STORE, 3, "create_attachment repeated an id"),
    ],
    ids=["store-leaking-between-users", "attachment-store-repeating-ids"],
)
def test_a_broken_store_fails_one_test_with_a_readable_message(
    pytester: pytest.Pytester, source: str, passed: int, message: str
) -> None:
    pytester.makepyfile(test_broken=source)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "asyncio", "-o", "asyncio_mode=auto")
    result.assert_outcomes(failed=1, passed=passed)
    assert message in result.stdout.str()

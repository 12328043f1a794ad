"""The pytest plugin, as a user's project sees it: fixtures with no configuration, snapshots."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.process

USER_TESTS = """
import pytest
from datetime import datetime

from chatkit.server import ChatKitServer
from chatkit.testing import ChatKitTestClient
from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadItemDoneEvent


class HelloServer(ChatKitServer[dict]):
    async def respond(self, thread, input_user_message, context):
        yield ThreadItemDoneEvent(item=AssistantMessageItem(
            id=self.store.generate_item_id("message", thread, context), thread_id=thread.id,
            created_at=datetime.now(), content=[AssistantMessageContent(text=f"Hello, {context['user_id']}!")]))


@pytest.mark.asyncio
async def test_hello(chatkit_store, chatkit_snapshot):
    async with ChatKitTestClient.in_process(HelloServer(chatkit_store), {"user_id": "ada"}) as client:
        turn = await client.send("Hi")
    assert turn.text == "Hello, ada!"
    print(type(chatkit_store).__name__)
    chatkit_snapshot(turn)
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # In a subprocess: the plugin loads from the installed entry point, as in a user's project.
    return pytester.runpytest_subprocess("-p", "no:randomly", "-p", "asyncio", "-s", *args)


def test_the_fixtures_need_no_configuration_and_snapshots_are_written_then_compared(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    first = run(pytester)
    first.assert_outcomes(failed=1)
    assert "no snapshot yet" in first.stdout.str()
    snapshot = pytester.path / "__snapshots__" / "test_user" / "test_hello.json"
    written = snapshot.read_text()
    # Ids and times are placeholders, so the next run compares equal.
    assert '"<thr:1>"' in written and '"<time>"' in written and "Hello, ada!" in written
    run(pytester).assert_outcomes(passed=1)
    # A changed answer fails against the stored one; --chatkit-update-snapshots rewrites it.
    pytester.makepyfile(
        test_user=USER_TESTS.replace("Hello, {context", "Hi, {context").replace("Hello, ada", "Hi, ada")
    )
    run(pytester).assert_outcomes(failed=1)
    run(pytester, "--chatkit-update-snapshots").assert_outcomes(passed=1)
    assert "Hi, ada!" in snapshot.read_text()


def test_the_store_is_chosen_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    run(pytester, "--chatkit-update-snapshots")
    memory = run(pytester)
    memory.assert_outcomes(passed=1)
    assert "MemoryStore" in memory.stdout.str()
    sqlite = run(pytester, "--chatkit-store", "sqlite")
    sqlite.assert_outcomes(passed=1)
    assert "SQLiteStore" in sqlite.stdout.str()
    wrong = run(pytester, "--chatkit-store", "mongodb://nope")
    assert "--chatkit-store must be memory, sqlite or a postgresql:// URL" in wrong.stdout.str() + wrong.stderr.str()


SERVER_MODULE = (
    USER_TESTS.split("@pytest.mark.asyncio")[0]
    + """

def make_server(store):
    return HelloServer(store)
"""
)

CLIENT_TESTS = """
import pytest


@pytest.mark.asyncio
async def test_hello(chatkit_client, chatkit_server, chatkit_store):
    turn = await chatkit_client.send("Hi")
    assert turn.text == "Hello, test-user!"
    assert chatkit_server.store is chatkit_store
"""


def test_chatkit_client_talks_to_the_server_the_configuration_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(myserver=SERVER_MODULE, test_client=CLIENT_TESTS)
    missing = run(pytester)
    assert "chatkit_server needs your server" in missing.stdout.str() + missing.stderr.str()
    pytester.makeini("[pytest]\nchatkit_server = myserver:make_server\n")
    run(pytester).assert_outcomes(passed=1)
    wrong = run(pytester, "--chatkit-server", "myserver:nowhere")
    assert "has no attribute 'nowhere'" in wrong.stdout.str() + wrong.stderr.str()

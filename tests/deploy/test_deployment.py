"""Three `chatkit serve` processes on one PostgreSQL database behind nginx, as deployed.

The processes run `tests.deploy.app` (scripted answers, `PostgresStore`, `PostgresAttachmentStore`)
and nginx runs `deploy/nginx.conf`, the configuration the reverse-proxy guide documents.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.attachments.test_contract import png
from tests.deploy.app import DELAY, MAX_SESSIONS, WORDS
from tests.deploy.deployment import NGINX_CONF, ROOT, Deployment
from tests.http import parse_events, user_message
from tests.stores.backends import POSTGRES_DSN

pytestmark = [pytest.mark.nginx, pytest.mark.service, pytest.mark.process]

logger = logging.getLogger(__name__)
ALICE = {"x-user": "alice"}
LOAD_CLIENTS = 100
# Clients sending two-second answers during the rolling restart.
RESTART_CLIENTS = 30
ROLLING_SETTLE_SECONDS = 6
# The full run on PostgreSQL; through PgBouncer, a shorter one.
LOAD_SECONDS = {"postgres": 30, "pgbouncer": 10}


@pytest.fixture(scope="module", params=["postgres", "pgbouncer"])
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """Three processes and nginx, shared by the module's tests: on PostgreSQL, then through
    PgBouncer in transaction mode (where the coordination polls instead of listening)."""
    running = Deployment(3, through=request.param)
    try:
        running.start()
        yield running
    finally:
        running.stop()


async def start_thread(client: httpx.AsyncClient, url: str, text: str = "hello") -> str:
    response = await client.post(f"{url}/chatkit", json=user_message(text), headers=ALICE)
    assert response.status_code == 200, response.text
    return parse_events(response.content)[0]["thread"]["id"]


async def thread_items(client: httpx.AsyncClient, url: str, thread_id: str) -> list[dict[str, Any]]:
    response = await client.post(
        f"{url}/chatkit", json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}}, headers=ALICE
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]["data"]


def test_the_documented_nginx_configuration_is_the_tested_one() -> None:
    guide = (ROOT / "docs" / "guides" / "reverse-proxy.md").read_text()
    fence = re.search(r"```nginx\n(.*?)```", guide, re.DOTALL)
    assert fence is not None
    assert fence[1] == NGINX_CONF.read_text()


async def test_an_upload_through_one_process_is_downloaded_through_the_others(deployment: Deployment) -> None:
    image = png(32, 32)
    async with httpx.AsyncClient(timeout=30) as client:
        # Two-phase: announced through one process, uploaded through nginx to whichever process.
        created = await client.post(
            f"{deployment.process_url(0)}/chatkit",
            json={
                "type": "attachments.create",
                "params": {"name": "red.png", "size": len(image), "mime_type": "image/png"},
            },
            headers=ALICE,
        )
        assert created.status_code == 200, created.text
        announced = created.json()
        upload = announced["upload_descriptor"]
        # The URL names the process that signed it; the browser reaches it through nginx.
        upload_url = upload["url"].replace(deployment.process_url(0), deployment.url)
        uploaded = await client.request(upload["method"], upload_url, content=image, headers=ALICE)
        assert uploaded.status_code == 200, uploaded.text
        # The signed preview URL works through every process.
        preview = uploaded.json()["preview_url"]
        assert preview.startswith(deployment.url)
        for index in range(3):
            shown = await client.get(preview.replace(deployment.url, deployment.process_url(index)))
            assert shown.status_code == 200 and shown.content == image
        # Direct: posted to the second process.
        direct = await client.post(
            f"{deployment.process_url(1)}/chatkit/upload",
            files={"file": ("notes.txt", b"plain notes\n" * 1000, "text/plain")},
            headers=ALICE,
        )
        assert direct.status_code == 200, direct.text
        for attachment_id, body in ((announced["id"], image), (direct.json()["id"], b"plain notes\n" * 1000)):
            for url in [*(deployment.process_url(index) for index in range(3)), deployment.url]:
                served = await client.get(f"{url}/chatkit/files/{attachment_id}", headers=ALICE)
                assert served.status_code == 200, (url, served.text)
                assert served.content == body
        # Another user finds neither, through any process.
        for url in (deployment.process_url(2), deployment.url):
            foreign = await client.get(f"{url}/chatkit/files/{announced['id']}", headers={"x-user": "bob"})
            assert foreign.status_code == 404


async def test_a_hundred_clients_for_thirty_seconds_see_no_error(deployment: Deployment) -> None:
    errors: list[str] = []
    counts = {"turns": 0, "reads": 0}
    seconds = LOAD_SECONDS[deployment.through]
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=LOAD_CLIENTS, max_keepalive_connections=LOAD_CLIENTS)

    async def client_loop(client: httpx.AsyncClient, number: int) -> None:
        headers = {"x-user": f"load_{number}"}
        thread_id: str | None = None
        while time.monotonic() < deadline and len(errors) < 10:
            try:
                turn = await client.post(
                    f"{deployment.url}/chatkit", json=user_message(f"turn {number}", thread_id), headers=headers
                )
                events = parse_events(turn.content) if turn.status_code == 200 else []
                if not events or events[-1]["type"] != "thread.item.done":
                    errors.append(f"turn: {turn.status_code} {turn.content[-300:]!r}")
                    continue
                counts["turns"] += 1
                thread_id = thread_id or events[0]["thread"]["id"]
                read = await client.post(
                    f"{deployment.url}/chatkit",
                    json={"type": "items.list", "params": {"thread_id": thread_id, "limit": 20, "order": "desc"}},
                    headers=headers,
                )
                if read.status_code != 200:
                    errors.append(f"items.list: {read.status_code} {read.text[:300]}")
                    continue
                counts["reads"] += 1
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        sampling = asyncio.create_task(peak_sessions(deployment, deadline))
        await asyncio.gather(*(client_loop(client, number) for number in range(LOAD_CLIENTS)))
        peak = await sampling
    assert not errors, errors[:10]
    assert counts["turns"] >= LOAD_CLIENTS, counts
    if deployment.through == "postgres":
        # Behind PgBouncer, PostgreSQL sees the pooler's sessions, not the processes'.
        assert 0 < peak <= MAX_SESSIONS, peak
    logger.info(
        "%s clients, %s s: %s turns, %s items.list, at most %s sessions per process",
        LOAD_CLIENTS,
        LOAD_SECONDS,
        counts["turns"],
        counts["reads"],
        peak,
    )


async def peak_sessions(deployment: Deployment, deadline: float) -> int:
    """The most PostgreSQL sessions any one process held, sampled until `deadline`."""
    peak = 0
    names = [deployment.application_name(index) for index in range(len(deployment.ports))]
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin:
        while time.monotonic() < deadline:
            cursor = await admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(%s) GROUP BY application_name",
                (names,),
            )
            peak = max([peak, *(count for (count,) in await cursor.fetchall())])
            await asyncio.sleep(0.1)
    return peak


async def test_a_rolling_restart_under_load_cuts_no_answer_and_loses_no_item(deployment: Deployment) -> None:
    # Clients send two-second answers through nginx while each process in turn is sent SIGTERM,
    # drains, and is started again: every answer streams to its end and is in the database.
    errors: list[str] = []
    confirmed: dict[str, int] = {}
    owners: dict[str, str] = {}
    restarts: list[float] = []
    restarting = True
    limits = httpx.Limits(max_connections=RESTART_CLIENTS, max_keepalive_connections=RESTART_CLIENTS)

    async def client_loop(client: httpx.AsyncClient, number: int) -> None:
        headers = {"x-user": f"rolling_{number}"}
        thread_id: str | None = None
        while restarting and len(errors) < 10:
            try:
                turn = await client.post(
                    f"{deployment.url}/chatkit", json=user_message(f"slow {number}", thread_id), headers=headers
                )
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            events = parse_events(turn.content) if turn.status_code == 200 else []
            if not events or events[-1]["type"] != "thread.item.done":
                errors.append(f"turn: {turn.status_code} {turn.content[-300:]!r}")
                continue
            thread_id = thread_id or str(events[0]["thread"]["id"])
            owners[thread_id] = headers["x-user"]
            confirmed[thread_id] = confirmed.get(thread_id, 0) + 1

    async def roll() -> None:
        nonlocal restarting
        try:
            await asyncio.sleep(2)
            for index in range(len(deployment.ports)):
                restarts.append(await asyncio.to_thread(deployment.restart, index))
                # As a rolling deploy waits for a new replica to settle (Kubernetes' minReadySeconds):
                # nginx counts a restarted process out for its fail_timeout (5 s) after refusals.
                await asyncio.sleep(ROLLING_SETTLE_SECONDS)
        finally:
            restarting = False

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(roll(), *(client_loop(client, number) for number in range(RESTART_CLIENTS)))
    if errors:
        # Every process's warnings and nginx's error log, in full (an assertion message is cut short).
        print(deployment.logs())
    assert not errors, errors[:2]
    assert sum(confirmed.values()) >= RESTART_CLIENTS * 2, confirmed
    # Every answer a client saw finish is in the database: one user and one assistant message a turn.
    async with httpx.AsyncClient(timeout=30) as client:
        for thread_id, turns in confirmed.items():
            response = await client.post(
                f"{deployment.url}/chatkit",
                json={"type": "items.list", "params": {"thread_id": thread_id, "limit": 100}},
                headers={"x-user": owners[thread_id]},
            )
            assert response.status_code == 200, response.text
            kinds = [item["type"] for item in response.json()["data"]]
            assert kinds.count("assistant_message") == turns, (thread_id, kinds)
    logger.info(
        "rolling restart through %s: %d clients, %d answers, restarts took %s s",
        deployment.through,
        RESTART_CLIENTS,
        sum(confirmed.values()),
        ", ".join(f"{seconds:.1f}" for seconds in restarts),
    )


def rejoined_frames(body: bytes) -> list[tuple[int | None, dict[str, Any]]]:
    """The `(id, event)` frames of a rejoin stream; a closing `error` frame has no id."""
    frames: list[tuple[int | None, dict[str, Any]]] = []
    for frame in body.split(b"\n\n")[:-1]:
        *number, data = frame.split(b"\n")
        assert data.startswith(b"data: ") and all(line.startswith(b"id: ") for line in number), frame
        frames.append((int(number[0][4:]) if number else None, json.loads(data[6:])))
    return frames


def answer_text(events: list[dict[str, Any]]) -> str:
    """The assistant text streamed by `events` (its deltas, in order)."""
    return "".join(
        event["update"]["delta"]
        for event in events
        if event.get("update", {}).get("type") == ("assistant_message.content_part.text_delta")
    )


async def lock_holder(deployment: Deployment) -> int:
    """The index of the process whose store holds a turn lock (a session idle in a transaction)."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin:
        for _ in range(100):
            cursor = await admin.execute(
                "SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = %s",
                (deployment.database,),
            )
            names = [name for (name,) in await cursor.fetchall()]
            if names:
                assert len(names) == 1, names
                return int(names[0].rsplit("_", 1)[1])
            await asyncio.sleep(0.05)
    raise AssertionError("no process holds a turn lock")


async def test_killing_the_process_running_a_turn_loses_no_committed_item(deployment: Deployment) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        thread_id = await start_thread(client, deployment.url)
        started = asyncio.Event()

        async def held_turn() -> bytes:
            body = b""
            # "hold" answers all but its last word, then waits for a release that never comes.
            async with client.stream(
                "POST", f"{deployment.url}/chatkit", json=user_message("hold", thread_id), headers=ALICE
            ) as response:
                async for chunk in response.aiter_raw():
                    body += chunk
                    if b"hold:3" in body:
                        started.set()
            return body

        turn = asyncio.create_task(held_turn())
        await asyncio.wait_for(started.wait(), 20)
        victim = await lock_holder(deployment)
        witness = deployment.process_url((victim + 1) % 3)
        committed = await thread_items(client, witness, thread_id)
        assert [item["type"] for item in committed] == ["user_message", "assistant_message", "user_message"]

        deployment.kill(victim)
        with pytest.raises(httpx.HTTPError):
            await asyncio.wait_for(turn, 20)
        try:
            # The others keep serving, through nginx: no request sees the dead process.
            for _ in range(12):
                listed = await client.post(
                    f"{deployment.url}/chatkit", json={"type": "threads.list", "params": {}}, headers=ALICE
                )
                assert listed.status_code == 200, listed.text
            after_kill = await thread_items(client, deployment.url, thread_id)
            assert [item["id"] for item in after_kill] == [item["id"] for item in committed]
            # The dead process's lock went with its sessions: the thread takes a new turn.
            again = await asyncio.wait_for(
                client.post(f"{deployment.url}/chatkit", json=user_message("again", thread_id), headers=ALICE), 30
            )
            assert again.status_code == 200, again.text
            assert parse_events(again.content)[-1]["type"] == "thread.item.done"
            final = await thread_items(client, deployment.url, thread_id)
            assert [item["id"] for item in final[:3]] == [item["id"] for item in committed]
            assert [item["type"] for item in final[3:]] == ["user_message", "assistant_message"]
        finally:
            deployment.start_process(victim)
            deployment.wait_ready(deployment.process_url(victim))


async def test_a_client_that_reconnects_to_another_process_rejoins_its_running_turn(deployment: Deployment) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        thread_id = await start_thread(client, deployment.url)
        seen = b""
        async with client.stream(
            "POST", f"{deployment.url}/chatkit", json=user_message("slow", thread_id), headers=ALICE
        ) as response:
            async for chunk in response.aiter_raw():
                seen += chunk
                if b"slow:2 " in seen:
                    break
        # The client went away mid-answer (a reload); the turn goes on in the process running it.
        before = parse_events(seen[: seen.rindex(b"\n\n") + 2])
        runner = await lock_holder(deployment)
        elsewhere = deployment.process_url((runner + 1) % 3)
        rejoined = await client.get(
            f"{elsewhere}/chatkit/threads/{thread_id}/stream", params={"after": len(before)}, headers=ALICE
        )
        assert rejoined.status_code == 200, rejoined.text
        frames = rejoined_frames(rejoined.content)
        assert [number for number, _ in frames] == list(range(len(before) + 1, len(before) + 1 + len(frames)))
        events = before + [event for _, event in frames]
        assert answer_text(events) == "".join(f"slow:{index} " for index in range(WORDS))
        assert events[-1]["type"] == "thread.item.done"
        # Nothing runs any more: 204, and the thread holds the whole answer.
        ended = await client.get(f"{deployment.url}/chatkit/threads/{thread_id}/stream", headers=ALICE)
        assert ended.status_code == 204
        items = await thread_items(client, deployment.url, thread_id)
        assert items[-1]["content"][0]["text"] == "".join(f"slow:{index} " for index in range(WORDS))


async def test_a_message_through_a_third_process_interrupts_a_turn_followed_through_a_second(
    deployment: Deployment,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        thread_id = await start_thread(client, deployment.url)
        started = asyncio.Event()

        async def run_turn() -> bytes:
            body = b""
            async with client.stream(
                "POST", f"{deployment.process_url(0)}/chatkit", json=user_message("slow", thread_id), headers=ALICE
            ) as response:
                async for chunk in response.aiter_raw():
                    body += chunk
                    if b"slow:1 " in body:
                        started.set()
            return body

        async def follow() -> bytes:
            followed = await client.get(
                f"{deployment.process_url(1)}/chatkit/threads/{thread_id}/stream", headers=ALICE
            )
            assert followed.status_code == 200, followed.text
            return followed.content

        turn = asyncio.create_task(run_turn())
        await asyncio.wait_for(started.wait(), 20)
        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        sent = time.monotonic()
        interrupting = await client.post(
            f"{deployment.process_url(2)}/chatkit", json=user_message("next", thread_id), headers=ALICE
        )
        assert interrupting.status_code == 200, interrupting.text
        original, followed = await asyncio.wait_for(asyncio.gather(turn, follower), 20)
        # Both the running turn's client and its follower saw it stop well before its 20 words.
        partial = answer_text(parse_events(original))
        assert 0 < len(partial.split()) < WORDS
        # The follower saw what the turn's own client saw, to its end (no closing error frame).
        frames = rejoined_frames(followed)
        assert all(number is not None for number, _ in frames), frames[-1]
        assert answer_text([event for _, event in frames]) == partial
        assert time.monotonic() - sent < DELAY * WORDS
        items = await thread_items(client, deployment.url, thread_id)
        texts = [
            (item["type"], "".join(part.get("text", "") for part in item.get("content", []))) for item in items[2:]
        ]
        assert texts == [
            ("user_message", "slow"),
            ("assistant_message", partial),
            ("user_message", "next"),
            ("assistant_message", "".join(f"next:{index} " for index in range(WORDS))),
        ]

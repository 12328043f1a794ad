"""`chatkit demo` as a person runs it: a real process on a free port, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.demo.model import CLIENT_TOOL, RESEARCH_TOOL, WIDGET_TOOL, plan_step
from tests.demo.conftest import RunningProcess, free_port, parse_events, start_process, user_message

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """`chatkit demo` in a fresh directory, with no OpenAI key and no pacing."""
    workdir = tmp_path_factory.mktemp("demo")
    port = free_port()
    running = start_process(
        ["demo"], cwd=workdir, port=port, env={"PORT": str(port), "CHATKIT_DEMO_PACE": "0"}, log=workdir / "demo.log"
    )
    yield running
    assert running.stop() == 0, running.output()


def post(demo: RunningProcess, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{demo.base_url}/chatkit", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response


def done_items(events: list[dict[str, Any]], item_type: str) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "thread.item.done" and e["item"]["type"] == item_type]


def test_demo_listens_on_port_from_env_and_serves_the_playground(demo: RunningProcess) -> None:
    page = httpx.get(f"{demo.base_url}/", timeout=10)
    assert page.status_code == 200
    assert "<title>ChatKit playground</title>" in page.text
    assert "ChatKit demo: open" in demo.output()


def test_demo_lets_the_official_component_call_it(demo: RunningProcess) -> None:
    headers = {"Origin": "https://cdn.platform.openai.com", "Access-Control-Request-Method": "POST"}
    preflight = httpx.options(f"{demo.base_url}/chatkit", headers=headers, timeout=10)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://cdn.platform.openai.com"
    elsewhere = httpx.options(f"{demo.base_url}/chatkit", headers={**headers, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in elsewhere.headers


def test_demo_turn_streams_progress_workflow_widget_and_the_offline_answer(demo: RunningProcess) -> None:
    events = parse_events(post(demo, user_message("How do widgets work?")).content)
    types = [event["type"] for event in events]
    assert types[:3] == ["thread.created", "thread.item.done", "stream_options"]
    assert {"type": "progress_update", "icon": "search", "text": "Researching “How do widgets work?”…"} in events
    thread = events[0]["thread"]

    (workflow,) = done_items(events, "workflow")
    assert [task["status_indicator"] for task in workflow["workflow"]["tasks"]] == ["complete"] * 3
    (widget,) = done_items(events, "widget")
    assert widget["widget"]["type"] == "Card"
    deltas = [e for e in events if e["type"] == "thread.item.updated" and "text_delta" in e["update"]["type"]]
    assert len(deltas) > 50
    (answer,) = done_items(events, "assistant_message")
    text = answer["content"][0]["text"]
    assert text == "".join(delta["update"]["delta"] for delta in deltas)
    assert "I am the **offline demo model**" in text
    assert "## About “How do widgets work?”" in text
    assert types.index("progress_update") < types.index("thread.item.added") < types.index("thread.item.done", 2)
    assert "thread.updated" in types

    stored = post(demo, {"type": "threads.get_by_id", "params": {"thread_id": thread["id"]}}).json()
    assert stored["title"] == "How do widgets work?"
    assert [item["type"] for item in stored["items"]["data"]] == [
        "user_message",
        "workflow",
        "widget",
        "assistant_message",
    ]
    listed = post(demo, {"type": "threads.list", "params": {"limit": 5}}).json()
    assert thread["id"] in [entry["id"] for entry in listed["data"]]


def test_demo_widget_button_is_handled_by_the_server(demo: RunningProcess) -> None:
    events = parse_events(post(demo, user_message("Show me a card")).content)
    thread_id = events[0]["thread"]["id"]
    (widget,) = done_items(events, "widget")
    button = widget["widget"]["children"][-1]["children"][0]
    assert button["type"] == "Button"

    action = {"type": button["onClickAction"]["type"], "payload": button["onClickAction"]["payload"]}
    params = {"thread_id": thread_id, "item_id": widget["id"], "action": action}
    pressed = parse_events(post(demo, {"type": "threads.custom_action", "params": params}).content)
    (replaced,) = [e["item"] for e in pressed if e["type"] == "thread.item.replaced"]
    status = replaced["widget"]["children"][-1]["children"][1]
    assert status["value"].startswith("Pressed once")

    stored = post(demo, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).json()
    (stored_widget,) = [item for item in stored["items"]["data"] if item["type"] == "widget"]
    stored_row = stored_widget["widget"]["children"][-1]["children"]
    assert stored_row[1] == status
    assert stored_row[0]["onClickAction"]["payload"]["presses"] == 1


def test_demo_reports_an_unknown_widget_action(demo: RunningProcess) -> None:
    events = parse_events(post(demo, user_message("Show me a card")).content)
    (widget,) = done_items(events, "widget")
    params = {"thread_id": events[0]["thread"]["id"], "item_id": widget["id"], "action": {"type": "demo.nope"}}
    answered = parse_events(post(demo, {"type": "threads.custom_action", "params": params}).content)
    assert answered[-1] == {
        "type": "error",
        "code": "custom",
        "message": "The demo has no action 'demo.nope' for this item.",
        "allow_retry": False,
    }


def test_demo_client_tool_round_trip(demo: RunningProcess) -> None:
    events = parse_events(post(demo, user_message("What time is it in my browser?")).content)
    thread_id = events[0]["thread"]["id"]
    (call,) = done_items(events, "client_tool_call")
    assert (call["name"], call["status"]) == (CLIENT_TOOL, "pending")
    assert not done_items(events, "assistant_message")

    result = {"time_zone": "Europe/Paris", "language": "fr-FR"}
    params = {"thread_id": thread_id, "result": result}
    answered = parse_events(post(demo, {"type": "threads.add_client_tool_output", "params": params}).content)
    (answer,) = done_items(answered, "assistant_message")
    assert "- **time_zone**: Europe/Paris" in answer["content"][0]["text"]
    assert "offline demo model" in answer["content"][0]["text"]


def test_demo_uploads_an_image_and_answers_about_it(demo: RunningProcess, tmp_path: Path) -> None:
    png = (Path(__file__).parent / "pixel.png").read_bytes()
    params = {"name": "pixel.png", "size": len(png), "mime_type": "image/png"}
    created = post(demo, {"type": "attachments.create", "params": params}).json()
    descriptor = created["upload_descriptor"]
    uploaded = httpx.request(descriptor["method"], descriptor["url"], content=png, headers=descriptor.get("headers"))
    assert uploaded.status_code in (200, 201), uploaded.text

    events = parse_events(post(demo, user_message("What is this?", attachments=[created["id"]])).content)
    (message,) = done_items(events, "user_message")
    (attachment,) = message["attachments"]
    preview = httpx.get(attachment["preview_url"], timeout=10)
    assert preview.status_code == 200
    assert preview.content == png
    assert done_items(events, "assistant_message")


def upload(demo: RunningProcess, name: str, data: bytes, mime_type: str) -> str:
    params = {"name": name, "size": len(data), "mime_type": mime_type}
    created = post(demo, {"type": "attachments.create", "params": params}).json()
    descriptor = created["upload_descriptor"]
    uploaded = httpx.request(descriptor["method"], descriptor["url"], content=data, headers=descriptor.get("headers"))
    assert uploaded.status_code in (200, 201), uploaded.text
    return created["id"]


def test_demo_counts_images_and_files_and_keeps_file_text_out_of_its_heading(demo: RunningProcess) -> None:
    image = upload(demo, "pixel.png", (Path(__file__).parent / "pixel.png").read_bytes(), "image/png")
    notes = upload(demo, "notes.txt", b"Some private notes that must not be echoed.", "text/plain")
    events = parse_events(post(demo, user_message("What did I attach?", attachments=[image, notes])).content)
    (answer,) = done_items(events, "assistant_message")
    text = answer["content"][0]["text"]
    assert "## About “What did I attach?”\n" in text
    assert "You attached 1 image and 1 file; a real model would look at them." in text
    assert "private notes" not in text
    progress = [e["text"] for e in events if e["type"] == "progress_update"]
    assert progress == ["Researching “What did I attach?”…"]


@pytest.mark.parametrize(
    ("parts", "note"),
    [
        ([{"type": "input_image", "image_url": "data:,"}], "You attached 1 image; a real model would look at it."),
        ([{"type": "input_text", "text": "Attached file a.txt:\nx"}], "You attached 1 file; a real model would"),
        (
            [
                {"type": "input_file", "file_data": "data:,", "filename": "a.pdf"},
                {"type": "input_text", "text": "Attached file b.md:\n# Title"},
                {"type": "input_image", "image_url": "data:,"},
            ],
            "You attached 1 image and 2 files; a real model would look at them.",
        ),
    ],
)
def test_offline_model_counts_attachments_by_kind(parts: list[dict[str, Any]], note: str) -> None:
    typed = {"type": "input_text", "text": "What is attached?"}
    question: Any = {"role": "user", "content": [typed, *parts]}
    research = plan_step([question])
    assert getattr(research, "arguments", None) == {"topic": "What is attached?"}
    done: list[Any] = [
        {"type": "function_call", "name": RESEARCH_TOOL, "call_id": "a", "arguments": "{}"},
        {"type": "function_call", "name": WIDGET_TOOL, "call_id": "b", "arguments": "{}"},
    ]
    answer = getattr(plan_step([question, *done]), "text", "")
    assert note in answer
    assert "## About “What is attached?”" in answer
    assert "Attached file" not in answer


def test_demo_keeps_its_database_in_the_working_directory(demo: RunningProcess) -> None:
    post(demo, user_message("Remember me"))
    assert (Path(demo.log).parent / "chatkit-demo.db").is_file()


@pytest.mark.parametrize(
    ("conversation", "expected"),
    [
        ([{"role": "user", "content": "Tell me about SSE"}], (RESEARCH_TOOL, {"topic": "Tell me about SSE"})),
        ("Which language does my browser use?", (CLIENT_TOOL, {})),
        (
            [
                {"role": "user", "content": [{"type": "input_text", "text": "SSE"}]},
                {"type": "function_call", "name": RESEARCH_TOOL, "call_id": "c1", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "notes"},
            ],
            (WIDGET_TOOL, None),
        ),
    ],
)
def test_offline_model_script_picks_the_next_step(conversation: Any, expected: tuple[str, Any]) -> None:
    step = plan_step(conversation)
    name, arguments = expected
    assert getattr(step, "name", None) == name
    if arguments is not None:
        assert getattr(step, "arguments", None) == arguments


def test_offline_model_answers_once_both_tools_ran_in_this_turn() -> None:
    earlier_turn: list[Any] = [
        {"role": "user", "content": "first question"},
        {"type": "function_call", "name": RESEARCH_TOOL, "call_id": "a", "arguments": "{}"},
        {"type": "function_call", "name": WIDGET_TOOL, "call_id": "b", "arguments": "{}"},
        {"role": "assistant", "content": "an answer"},
    ]
    assert getattr(plan_step([*earlier_turn, {"role": "user", "content": "second"}]), "name", None) == RESEARCH_TOOL
    this_turn: list[Any] = [
        {"type": "function_call", "name": RESEARCH_TOOL, "call_id": "c", "arguments": "{}"},
        {"type": "function_call", "name": WIDGET_TOOL, "call_id": "d", "arguments": "{}"},
    ]
    step = plan_step([*earlier_turn, {"role": "user", "content": "second"}, *this_turn])
    assert "offline demo model" in getattr(step, "text", "")

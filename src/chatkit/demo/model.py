"""The demo's offline model: a `chatkit.testing.ScriptedModel` that needs no API key and no network.

It reads the conversation the Agents SDK hands it and plays one step of a fixed script per call:
look the topic up (progress and a workflow), show a summary card (a widget), then stream a
Markdown answer. A message that asks about the browser, the time or the language calls the
client tool instead. The answer says plainly that it comes from the offline model.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.items import TResponseInputItem

from chatkit._json import json_object
from chatkit.testing import Script, ScriptedModel

RESEARCH_TOOL = "research_topic"
WIDGET_TOOL = "show_summary_card"
CLIENT_TOOL = "get_browser_info"

_CLIENT_TOOL_WORDS = re.compile(r"\b(browser|time|timezone|language|locale)\b", re.IGNORECASE)
# Words and the whitespace after them, so deltas join back into the exact answer.
_CHUNK = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class _ToolStep:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class _TextStep:
    text: str


class OfflineModel(ScriptedModel):
    """A scripted model that streams a realistic turn offline; `delay` paces the text deltas."""

    def __init__(self, *, delay: float = 0.02) -> None:
        # Nothing is recorded: the demo server runs for as long as someone keeps it open.
        super().__init__(planner=self._plan, record=False)
        self.delay = delay

    def _plan(self, input: str | list[TResponseInputItem]) -> Script:
        script = Script(_next_id("resp"))
        step = plan_step(input)
        if isinstance(step, _ToolStep):
            return script.call(_next_id("fc"), _next_id("call"), step.name, step.arguments)
        # Pacing makes the demo read like a live model and gives a person time to press stop.
        return script.text(_next_id("msg"), *_CHUNK.findall(step.text), pace=self.delay)


def plan_step(input: str | Sequence[TResponseInputItem]) -> _ToolStep | _TextStep:
    """Choose the script's next step from the conversation so far."""
    items: list[Any] = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
    last_user = max((i for i, item in enumerate(items) if _role(item) == "user"), default=-1)
    question = _text_of(items[last_user]) if last_user >= 0 else ""
    attached = _attachments_of(items[last_user]) if last_user >= 0 else []
    called = {_field(item, "name"): item for item in items[last_user + 1 :] if _field(item, "type") == "function_call"}
    outputs = {
        _field(item, "call_id"): _field(item, "output")
        for item in items[last_user + 1 :]
        if _field(item, "type") == "function_call_output"
    }
    topic = _topic(question)

    if CLIENT_TOOL in called:
        return _TextStep(_browser_answer(outputs.get(_field(called[CLIENT_TOOL], "call_id"))))
    if not called and _CLIENT_TOOL_WORDS.search(question):
        return _ToolStep(CLIENT_TOOL, {})
    if RESEARCH_TOOL not in called:
        return _ToolStep(RESEARCH_TOOL, {"topic": topic})
    if WIDGET_TOOL not in called:
        return _ToolStep(WIDGET_TOOL, {"title": topic, "points": list(_POINTS)})
    return _TextStep(_answer(topic, attached))


_POINTS = (
    "Streams every event as it happens",
    "Saves the thread after each item",
    "Keeps a stopped answer as it stood",
)


def _answer(topic: str, attached: list[str]) -> str:
    return (
        "*I am the **offline demo model**: a scripted stand-in that runs without an API key, so this "
        "answer is canned. Set `OPENAI_API_KEY` to talk to a real model.*\n\n"
        f"{_attachment_note(attached)}"
        f"## About “{topic}”\n\n"
        "Here is what this turn just showed you, step by step:\n\n"
        "1. A **progress update** while the research tool ran.\n"
        "2. A **workflow** with tasks that completed one after the other.\n"
        "3. A **widget** built from a `.widget` template; its button calls the server.\n"
        "4. This answer, streamed word by word as Markdown.\n\n"
        "### Things to try\n\n"
        "- Press **Stop** while an answer streams: the part you saw is kept.\n"
        "- Reload the page: the thread comes back from SQLite.\n"
        "- Ask *what time is it in my browser?* to run a **client tool**.\n"
        "- Attach an image, then use **Retry** or the feedback buttons.\n\n"
        "A custom server is a few lines:\n\n"
        "```python\n"
        "class MyServer(ChatKitServer[dict]):\n"
        "    async def respond(self, thread, item, context):\n"
        "        ...\n"
        "```\n\n"
        "> Everything you see went through the same protocol the official ChatKit client speaks."
    )


def _attachment_note(attached: list[str]) -> str:
    if not attached:
        return ""
    images = attached.count("image")
    files = attached.count("file")
    counted = [f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in ((images, "image"), (files, "file")) if n]
    pronoun = "it" if len(attached) == 1 else "them"
    return f"You attached {' and '.join(counted)}; a real model would look at {pronoun}.\n\n"


def _browser_answer(output: Any) -> str:
    try:
        facts = json.loads(output) if isinstance(output, str) else output
    except ValueError:
        facts = output
    if facts := json_object(facts):
        lines = "\n".join(f"- **{key}**: {value}" for key, value in facts.items())
    else:
        lines = "- (the browser sent nothing back)"
    return (
        "*I am the **offline demo model**, so I can only repeat what your browser told me.*\n\n"
        "Your browser answered the `get_browser_info` client tool with:\n\n"
        f"{lines}\n"
    )


def _topic(question: str) -> str:
    words = question.split()
    topic = " ".join(words[:8]) + (" …" if len(words) > 8 else "")
    return topic or "your question"


def _role(item: Any) -> str | None:
    role = _field(item, "role")
    return role if isinstance(role, str) else None


def _field(item: Any, name: str) -> Any:
    fields = json_object(item)
    return fields.get(name) if fields is not None else getattr(item, name, None)


def _text_of(item: Any) -> str:
    """What the user typed: the first part of a message (converters add attachments after it)."""
    content = _field(item, "content")
    if isinstance(content, str):
        return content.strip()
    first = _field(content[0], "text") if content else None
    return first.strip() if isinstance(first, str) else ""


def _attachments_of(item: Any) -> list[str]:
    """What the parts after the typed text are: `image` for an image, `file` for a file sent as text or data."""
    content = _field(item, "content")
    if isinstance(content, str) or not content:
        return []
    kinds = [_field(part, "type") for part in content[1:]]
    return ["image" if kind == "input_image" else "file" for kind in kinds if kind in _ATTACHMENT_PARTS]


_ATTACHMENT_PARTS = ("input_image", "input_file", "input_text")


def _next_id(prefix: str) -> str:
    # Unique across restarts: the bridge may keep these ids for the thread's items.
    return f"{prefix}_{uuid.uuid4().hex[:16]}"

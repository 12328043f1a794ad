"""The demo app: the demo server on SQLite with local uploads, and the playground at `/`."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents import Model

from chatkit.demo.model import OfflineModel

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

    from chatkit.asgi import Drain

DEFAULT_DB_PATH = "chatkit-demo.db"
DEFAULT_UPLOADS_DIR = "chatkit-demo-uploads"
DEFAULT_OPENAI_MODEL = "gpt-5.4-mini"
DEFAULT_PACE = 0.03
DEMO_USER = "demo"
# The official web component (playground/official.html) calls the server from an iframe on its CDN.
DEFAULT_CORS_ORIGINS = ("https://cdn.platform.openai.com",)

_SECRET_FILE = ".demo-secret"
OFFLINE_DISCLAIMER = "Answers come from an offline scripted model; set `OPENAI_API_KEY` for real ones."

PLAYGROUND_OPTIONS: dict[str, Any] = {
    "startScreen": {
        "greeting": "What would you like to see the demo do?",
        "prompts": [
            {"label": "How does streaming work?", "prompt": "How does streaming work?", "icon": "bolt"},
            {"label": "Show me a widget", "prompt": "Show me a widget with a button", "icon": "sparkle"},
            {"label": "What time is it in my browser?", "prompt": "What time is it in my browser?", "icon": "clock"},
        ],
    },
    "composer": {"placeholder": "Message the demo assistant", "attachments": {"enabled": True}},
    "threadItemActions": {"feedback": True, "retry": True},
    "thread": {"autoScroll": True},
}
"""What the playground shows for the demo, named as in the web component's `ChatKitOptions`."""


def demo_model(pace: float = DEFAULT_PACE) -> Model:
    """The OpenAI model when `OPENAI_API_KEY` is set, else the offline scripted model.

    `CHATKIT_DEMO_MODEL` names the model and `OPENAI_BASE_URL` points at another OpenAI-compatible
    server; such servers get the Chat Completions API unless `CHATKIT_DEMO_API=responses`.
    """
    if not os.environ.get("OPENAI_API_KEY"):
        return OfflineModel(delay=pace)
    from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel
    from openai import AsyncOpenAI

    name = os.environ.get("CHATKIT_DEMO_MODEL") or DEFAULT_OPENAI_MODEL
    default_api = "chat_completions" if os.environ.get("OPENAI_BASE_URL") else "responses"
    client = AsyncOpenAI()
    if os.environ.get("CHATKIT_DEMO_API", default_api) == "chat_completions":
        return OpenAIChatCompletionsModel(model=name, openai_client=client)
    return OpenAIResponsesModel(model=name, openai_client=client)


def create_demo_app(
    *,
    db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
    uploads_dir: str | os.PathLike[str] = DEFAULT_UPLOADS_DIR,
    model: Model | None = None,
    pace: float | None = None,
    drain: Drain | None = None,
) -> Starlette:
    """The demo as an ASGI app.

    `pace` (seconds per streamed word, env `CHATKIT_DEMO_PACE`) slows the offline model down;
    `CHATKIT_DEMO_CORS_ORIGINS` (comma-separated) replaces the origins allowed to call it.
    """
    from chatkit.agents import ChatCompletionsItemConverter
    from chatkit.attachments import LocalAttachmentConverter, LocalAttachmentStore
    from chatkit.demo.server import DemoServer

    class DemoConverter(LocalAttachmentConverter, ChatCompletionsItemConverter):
        """Attachments as model input, earlier answers as plain text (which both OpenAI APIs accept)."""

    from chatkit.playground import playground_app
    from chatkit.stores import SQLiteStore

    if pace is None:
        pace = float(os.environ.get("CHATKIT_DEMO_PACE") or DEFAULT_PACE)
    uploads = Path(uploads_dir)
    attachments = LocalAttachmentStore[Any](uploads, secret=_demo_secret(uploads))
    model = model or demo_model(pace)
    server = DemoServer(
        SQLiteStore(db_path),
        attachments,
        model=model,
        converter=DemoConverter(attachments),
        # Research steps take ten words' time: long enough to watch, short enough not to wait.
        pace=pace * 10,
        # Traces go to the OpenAI platform: pointless for the offline model or another provider.
        tracing=not isinstance(model, OfflineModel) and not os.environ.get("OPENAI_BASE_URL"),
    )
    origins = os.environ.get("CHATKIT_DEMO_CORS_ORIGINS")
    cors_origins = tuple(filter(None, origins.split(","))) if origins is not None else DEFAULT_CORS_ORIGINS
    options = dict(PLAYGROUND_OPTIONS)
    if isinstance(model, OfflineModel):
        options["disclaimer"] = {"text": OFFLINE_DISCLAIMER}
    return playground_app(
        server,
        context=_demo_context,
        cors_origins=cors_origins,
        playground_options=options,
        # A reload mid-answer rejoins it; a page closed for good leaves the answer as it was seen.
        disconnect_policy="grace",
        drain=drain,
    )


def _demo_context(request: Request) -> dict[str, Any]:
    return {"user_id": DEMO_USER, "locale": getattr(request.state, "locale", None)}


def _demo_secret(uploads: Path) -> str:
    """The signing secret of the demo's upload URLs, kept on disk so previews survive a restart."""
    path = uploads / _SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    uploads.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    path.write_text(secret, encoding="utf-8")
    path.chmod(0o600)
    return secret

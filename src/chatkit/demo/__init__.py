"""The `chatkit demo` assistant: an Agents SDK agent served with the playground.

Without `OPENAI_API_KEY` it runs an offline scripted model (`OfflineModel`), so it works on a
machine with no network; with a key it uses the OpenAI API.
"""

from chatkit.demo.app import create_demo_app, demo_model
from chatkit.demo.model import OfflineModel
from chatkit.demo.server import DemoServer, build_agent, summary_card

__all__ = ["DemoServer", "OfflineModel", "build_agent", "create_demo_app", "demo_model", "summary_card"]

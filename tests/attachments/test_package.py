"""The attachments package: the Agents SDK loads only with the converter, which is a real class."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.process


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_importing_attachments_leaves_the_agents_sdk_unloaded() -> None:
    code = "import sys, chatkit.attachments; print('agents' in sys.modules, 'chatkit.agents' in sys.modules)"
    assert _run(code) == "False False"


def test_the_converter_is_a_class_of_its_own_module_built_on_the_agents_bridge() -> None:
    from chatkit.agents import ThreadItemConverter
    from chatkit.attachments import LocalAttachmentConverter
    from chatkit.attachments._converter import LocalAttachmentConverter as defined

    assert LocalAttachmentConverter is defined
    assert issubclass(LocalAttachmentConverter, ThreadItemConverter)
    assert LocalAttachmentConverter.__module__ == "chatkit.attachments._converter"

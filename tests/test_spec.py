"""The package against the facts recorded from the reference: its public names and its wire schema.

Both read the copies in `tests/spec_data`, so a clone with nothing beside it checks them too. When
the shared specification is beside the checkout, its own scripts run as well: the transcripts of
`golden.py` cover behaviour that no recorded file holds on its own (the scenarios' servers).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any

import pytest
from pydantic import BaseModel

from chatkit import actions, types, widgets
from tests.spec import SPEC_DATA, SPEC_DIR

NAMES: dict[str, list[str]] = json.loads((SPEC_DATA / "names.json").read_text("utf-8"))
REFERENCE_SCHEMA: dict[str, Any] = json.loads((SPEC_DATA / "protocol.schema.json").read_text("utf-8"))


@pytest.mark.unit
def test_the_name_list_is_the_recorded_one() -> None:
    assert sum(len(names) for names in NAMES.values()) == 359


@pytest.mark.unit
@pytest.mark.parametrize("module_name", sorted(NAMES))
def test_every_public_name_of_the_reference_module_is_importable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in NAMES[module_name] if not hasattr(module, name)]
    assert not missing, f"{module_name} lacks {missing}"


class _Protocol(BaseModel):
    """Every document that crosses the wire, as the recorded schema's root names them."""

    request: types.ChatKitReq
    stream_event: types.ThreadStreamEvent
    thread: types.Thread
    threads_page: types.Page[types.Thread]
    items_page: types.Page[types.ThreadItem]
    attachment: types.Attachment
    widget_root: widgets.WidgetRoot
    sync_custom_action_response: types.SyncCustomActionResponse
    transcription_result: types.TranscriptionResult
    action_config: actions.ActionConfig


def by_title(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema's definitions (and its root, as `<root>`) keyed by title, without prose.

    Definition keys are pydantic's generated names, which differ between versions for the same
    shape; titles do not. References are rewritten to the title they point at.
    """
    definitions: dict[str, Any] = schema.get("$defs", {})
    titles = {key: definition.get("title", key) for key, definition in definitions.items()}

    def plain(node: Any, dropped: frozenset[str] = frozenset({"description", "$defs"})) -> Any:
        if isinstance(node, dict):
            return {
                key: titles.get(value.rpartition("/")[2], value) if key == "$ref" else plain(value)
                for key, value in node.items()
                if key not in dropped
            }
        if isinstance(node, list):
            return [plain(value) for value in node]
        return node

    # The root's title is the name of the model that gathered the documents: not part of the wire.
    root = plain(schema, frozenset({"description", "$defs", "title"}))
    return {**{titles[key]: plain(value) for key, value in definitions.items()}, "<root>": root}


REFERENCE_DEFINITIONS = by_title(REFERENCE_SCHEMA)
OUR_DEFINITIONS = by_title(_Protocol.model_json_schema(mode="serialization"))


@pytest.mark.unit
def test_the_schema_defines_the_same_documents() -> None:
    assert len(REFERENCE_DEFINITIONS) == 148
    assert set(OUR_DEFINITIONS) == set(REFERENCE_DEFINITIONS)


@pytest.mark.unit
@pytest.mark.parametrize("title", sorted(REFERENCE_DEFINITIONS))
def test_each_wire_document_has_the_reference_schema(title: str) -> None:
    assert OUR_DEFINITIONS.get(title) == REFERENCE_DEFINITIONS[title]


if SPEC_DIR.is_dir():
    # Defined only beside the specification, whose scripts they run: a lone clone has no such test
    # rather than a skipped one (the recorded data above is checked either way).

    def run_spec_script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(SPEC_DIR / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    @pytest.mark.process
    def test_the_specification_scripts_agree_on_names_and_schema() -> None:
        for script, expected in (
            ("names_check.py", "359 passed, 0 failed"),
            ("schema_check.py", "148 passed, 0 failed"),
        ):
            result = run_spec_script(script)
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.strip().splitlines()[-1] == expected

    @pytest.mark.process
    @pytest.mark.parametrize("group", ["server", "widgets", "agents", "converter"])
    def test_golden_transcripts(group: str) -> None:
        result = run_spec_script("golden.py", "--check", str(SPEC_DATA / "golden"), "--group", group)
        assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
        assert result.stdout.strip().splitlines()[-1].endswith(" 0 failed")

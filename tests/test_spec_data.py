"""The specification data copied into `tests/spec_data` is the shared specification's, byte for byte."""

from __future__ import annotations

import pytest

from tests.spec import SPEC_DATA, SPEC_DIR

pytestmark = pytest.mark.unit

COPIED = sorted(str(path.relative_to(SPEC_DATA)) for path in SPEC_DATA.rglob("*") if path.is_file())


def test_the_copy_holds_what_the_tests_read() -> None:
    assert {"API.md", "names.json", "protocol.schema.json", "client/widgets.d.ts"} <= set(COPIED)
    assert len([name for name in COPIED if name.startswith("golden/")]) == 4


if SPEC_DIR.is_dir():
    # Only beside the shared specification, the source of the copy; a lone clone tests the copy alone.

    @pytest.mark.parametrize("name", COPIED)
    def test_the_copy_matches_the_shared_specification(name: str) -> None:
        source = SPEC_DIR / name
        assert source.is_file(), f"{name} is no longer in the specification: run make spec-sync"
        assert (SPEC_DATA / name).read_bytes() == source.read_bytes(), f"{name} changed: run make spec-sync"

    def test_every_recorded_file_of_the_specification_is_copied() -> None:
        recorded = {
            str(path.relative_to(SPEC_DIR))
            for pattern in ("golden/*.jsonl", "assets/widgets/*", "*.json", "API.md")
            for path in SPEC_DIR.glob(pattern)
        }
        assert recorded <= set(COPIED), "run make spec-sync"

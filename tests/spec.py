"""The specification: its recorded data copied into this repository, and the folder it comes from.

The tests read the facts recorded from the reference (wire schema, transcripts, public names,
the client's widget types, sample widgets) from `SPEC_DATA`, so a clone with nothing beside it
tests itself. `SPEC_DIR`, the shared folder beside the checkout, is the source the copy is kept
identical to (`make spec-sync`; `tests/test_spec_data.py` compares them when it is there) and
holds the specification's own check scripts.
"""

from __future__ import annotations

from pathlib import Path

SPEC_DATA = Path(__file__).resolve().parent / "spec_data"
SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"

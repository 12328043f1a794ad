"""`make soak`: 500 streaming clients for 60 s against one server process; exit 0 only if it held up.

    .venv/bin/python scripts/reliability/soak.py [--clients 500] [--seconds 60]

Prints the turns completed, errors, first-event latency (p50, p99) and the server's RSS after the
first 10 s and at the end; passes with zero errors and RSS growth within 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reliability.load import soak  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak and print its figures; 0 if it passed, 1 if not."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chatkit-soak-") as workdir:
        result = asyncio.run(soak(args.clients, args.seconds, Path(workdir)))
    print(result.summary())
    for error in result.errors[:20]:
        print(f"  {error}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`make fuzz`: at least 100,000 fuzzed requests against the server and its HTTP endpoint; exit 0 if clean.

    .venv/bin/python scripts/reliability/fuzz.py [--requests 100000] [--seed 1] [--postgres]

The requests (schema-generated, valid, aimed at another user's ids, and mutated) go 70% to
`ChatKitServer.process` and 30% to the ASGI app in-process, on SQLite (and with `--postgres` a
further 10% to `process` on PostgreSQL). Prints the count sent, accepted, refused, the failures and
the known defects hit (see tests/reliability/fuzzing.py); exits 1 on any failure, and with
`--strict` on known defects too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reliability.fuzz_run import fuzz_everywhere  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fuzzer and print its figures; 0 if no invariant broke, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--postgres", action="store_true", help="also fuzz a PostgreSQL store (CHATKIT_TEST_POSTGRES_DSN)"
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail on known defects too (tests/reliability/fuzzing.py)"
    )
    parser.add_argument("--verbose", action="store_true", help="show the server's error logs")
    args = parser.parse_args(argv)
    if not args.verbose:
        # Refused requests make the server log what went wrong; the invariants are what count here.
        logging.getLogger("chatkit").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="chatkit-fuzz-") as workdir:
        report = asyncio.run(fuzz_everywhere(args.requests, args.seed, Path(workdir), postgres=args.postgres))
    print(report.summary())
    for failure in report.failures[:50]:
        print(f"  {failure}")
    return 1 if report.failures or (args.strict and report.known) else 0


if __name__ == "__main__":
    raise SystemExit(main())

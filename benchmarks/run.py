"""Run every benchmark in this folder, one after another, printing their figures.

python benchmarks/run.py [NAME ...]     # e.g. `protocol stores`; no name runs them all
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("*_bench.py"))
    if argv:
        scripts = [script for script in scripts if script.stem.removesuffix("_bench") in argv]
    failed = 0
    for script in scripts:
        print(f"\n== {script.name} ==", flush=True)
        failed += subprocess.run([sys.executable, str(script)], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Check that a package pinned to an older reference release resolves to its stand-in through the documented route.

Three of the official samples ask for `openai-chatkit>=1.5.3,<1.6.0`. Resolved with the find-links
folder and the constraints file (`make compat-wheels`), every such pin must land on a stand-in,
never on the reference. pip only resolves here (`--dry-run`): nothing is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys

from _report import expect, report

PINS = ["openai-chatkit>=1.5.3,<1.6.0", "openai-chatkit==1.4.0", "openai-chatkit>=1.6.4,<2"]


def resolved(requirement: str) -> str:
    """The version of `openai-chatkit` pip picks for `requirement` through the documented route."""
    command = [
        *(sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"),
        *("--report", "-", "--find-links", "dist", "-c", "dist/constraints.txt", requirement),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    picked = {item["metadata"]["name"]: item["metadata"]["version"] for item in json.loads(output)["install"]}
    expect("chatkit-server" in picked, f"{requirement} did not bring chatkit-server: {picked}")
    return picked["openai-chatkit"]


def main() -> None:
    """Resolve each pin and require the stand-in of the newest release it allows."""
    versions = [resolved(pin) for pin in PINS]
    expect(versions == ["1.5.3+chatkit.server", "1.4.0+chatkit.server", "1.6.5+chatkit.server"], str(versions))
    report("pinned releases", ", ".join(f"{pin} -> {version}" for pin, version in zip(PINS, versions, strict=True)))


if __name__ == "__main__":
    main()

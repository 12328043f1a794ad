"""Write one stand-in wheel per reference release, from the stand-in wheel `pip wheel ./compat` built.

    python compat/standins.py dist/openai_chatkit-1.6.5+chatkit.server-py3-none-any.whl

A package may pin any `openai-chatkit` 1.x (the official samples ask for `>=1.5.3,<1.6.0`). For
each release in `reference-releases.txt` this writes `openai_chatkit-<release>+chatkit.server`:
the same metadata-only wheel under that version. A local version sorts above the release it
labels, so wherever a requirement allows a release, pip prefers its stand-in.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

RELEASES = Path(__file__).with_name("reference-releases.txt")
LABEL = "+chatkit.server"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def rewrite(source: Path, version: str) -> Path:
    """A copy of the stand-in wheel `source` whose version is `version`; its path."""
    old_version = source.name.split("-")[1]
    old_info, new_info = f"openai_chatkit-{old_version}.dist-info", f"openai_chatkit-{version}.dist-info"
    target = source.with_name(source.name.replace(old_version, version))
    with zipfile.ZipFile(source) as wheel:
        entries = {info.filename: wheel.read(info) for info in wheel.infolist()}
    written: dict[str, bytes] = {}
    for name, data in entries.items():
        if name.endswith("/RECORD"):
            continue
        if name.endswith("/METADATA"):
            data = data.replace(f"Version: {old_version}\n".encode(), f"Version: {version}\n".encode())
        written[name.replace(old_info, new_info)] = data
    record = f"{new_info}/RECORD"
    lines = [_record_line(name, data) for name, data in written.items()] + [f"{record},,"]
    written[record] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in written.items():
            wheel.writestr(name, data)
    return target


def main(source: str) -> None:
    """Write a stand-in for every release listed beside this file but the source's own."""
    path = Path(source)
    own = path.name.split("-")[1]
    for release in RELEASES.read_text().split():
        if f"{release}{LABEL}" != own:
            rewrite(path, f"{release}{LABEL}")


if __name__ == "__main__":
    main(sys.argv[1])

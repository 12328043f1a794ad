"""Check that `import chatkit` is chatkit-server, untouched, and that `openai-chatkit` is only the stand-in."""

from __future__ import annotations

import base64
import hashlib
import sys
from importlib.metadata import distribution, packages_distributions
from importlib.util import find_spec
from pathlib import Path

from _report import expect, report


def _recorded_hash_matches(path: Path, recorded: str) -> bool:
    algorithm, _, digest = recorded.partition("=")
    actual = base64.urlsafe_b64encode(hashlib.new(algorithm, path.read_bytes()).digest()).rstrip(b"=").decode()
    return actual == digest


def main() -> None:
    """Run every check and exit non-zero on the first failure."""
    # Located, not imported: a folder the reference wrote into may not even import.
    spec = find_spec("chatkit")
    expect(spec is not None and spec.origin is not None, "no chatkit package is installed")
    assert spec is not None and spec.origin is not None
    package_dir = Path(spec.origin).resolve().parent
    expect(package_dir.is_relative_to(Path(sys.prefix).resolve()), f"chatkit imported from {package_dir}")

    owners = packages_distributions().get("chatkit", [])
    expect(owners == ["chatkit-server"], f"the chatkit folder is claimed by {owners}")

    stand_in = distribution("openai-chatkit")
    expect(stand_in.version.endswith("+chatkit.server"), f"openai-chatkit {stand_in.version} is not the stand-in")
    stand_in_files = [str(file) for file in stand_in.files or []]
    expect(all(".dist-info/" in name for name in stand_in_files), f"the stand-in ships files: {stand_in_files}")

    # The reference writes into the same folder: any file we did not install, or one whose bytes
    # differ from our wheel's record, would be its.
    ours = distribution("chatkit-server")
    site = Path(str(ours.locate_file(""))).resolve()
    recorded = {(site / str(file)).resolve(): file.hash for file in ours.files or []}
    for path in package_dir.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            expect(path in recorded, f"{path} does not come from chatkit-server")
            file_hash = recorded[path]
            expect(
                file_hash is not None and _recorded_hash_matches(path, f"{file_hash.mode}={file_hash.value}"),
                f"{path} differs from the file chatkit-server installed",
            )
    report("install", f"chatkit {ours.version} from {package_dir}, openai-chatkit {stand_in.version}")


if __name__ == "__main__":
    main()

"""How every compatibility check fails and reports, kept free of any `chatkit` import."""

from __future__ import annotations


class CheckFailed(AssertionError):
    """A compatibility check saw something other than what the dependent package relies on."""


def expect(condition: bool, message: str) -> None:
    """Fail the check with `message` unless `condition` holds (unlike `assert`, never optimized away)."""
    if not condition:
        raise CheckFailed(message)


def report(package: str, summary: str) -> None:
    """Print one line saying which package passed and what was driven through it."""
    print(f"compat: {package}: ok ({summary})")

"""MkDocs hook: render `python notest` fences (code meant to be read, not run) as Python.

The snippet test runs every block fenced exactly as `python`; `notest` opts a block out of it,
and this hook makes such blocks look like any other Python block on the site.
"""

from __future__ import annotations

import re
from typing import Any

_NOTEST_FENCE = re.compile(r"^(\s*)```python notest[ \t]*$", re.MULTILINE)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Turn the opening line of every `python notest` fence into a plain `python` fence."""
    return _NOTEST_FENCE.sub(r"\1```python", markdown)

"""Ids for the rows and files of the bundled stores: time-ordered, with 96 random bits.

`chatkit.store.default_generate_id` keeps the reference's short format (32 random bits), which
two tenants can share by chance; ids made here cannot collide in practice, and the stores still
refuse a clash rather than overwrite (see `IdConflictError`).
"""

from __future__ import annotations

import secrets
import time

from chatkit.store import _ID_PREFIXES, StoreItemType  # pyright: ignore[reportPrivateUsage]

RANDOM_BITS = 96
"""The random part of every id made here."""


def new_id(item_type: StoreItemType) -> str:
    """The type's prefix, 12 hex digits of Unix milliseconds, then 24 random hex digits."""
    return f"{_ID_PREFIXES[item_type]}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(RANDOM_BITS // 8)}"

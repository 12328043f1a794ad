"""Tenant scoping: which slice of the database a request context may see."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from chatkit.stores._errors import ScopeError

ScopeFunction = Callable[[Any], str | None]
"""Maps a request context to its tenant's scope, or None when it names no tenant."""

# The scope every row gets in a single-tenant store; a multi-tenant scope is never empty.
SINGLE_TENANT_SCOPE = ""


def default_scope(context: Any) -> str | None:
    """The context's `user_id` attribute or `"user_id"` key, as a string, or None if it has none."""
    value = getattr(context, "user_id", None)
    if value is None and isinstance(context, Mapping):
        value = cast("Mapping[str, object]", context).get("user_id")
    return None if value is None else str(value)


def resolve_scope(scope: ScopeFunction, single_tenant: bool, context: Any) -> str:
    """The scope of `context`, or `ScopeError` when a multi-tenant store cannot tell whose it is."""
    if single_tenant:
        return SINGLE_TENANT_SCOPE
    value = scope(context)
    if not value:
        raise ScopeError(
            f"The request context ({type(context).__name__}) names no tenant, so the store cannot tell whose "
            "data this is. Give the context a `user_id` attribute or key, pass the store a `scope=` function, "
            "or build the store with `single_tenant=True` if one tenant owns all the data."
        )
    return value

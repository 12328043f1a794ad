"""Errors raised by the bundled stores.

    StoreError                -- root of the errors of `chatkit.stores`
    ├── ScopeError            -- misuse: the request context names no tenant (also a ValueError)
    ├── IdConflictError       -- a new thread, item or attachment reuses an id its owner already has
    ├── StoreRejectedError    -- permanent: the database refused the operation; retrying cannot help
    └── StoreUnavailableError -- transient: the database cannot be reached or failed mid-operation

A missing or other-tenant row is `chatkit.store.NotFoundError`, as the `Store` interface says.
"""


class StoreError(Exception):
    """Root of the errors raised by the stores of `chatkit.stores`."""


class ScopeError(StoreError, ValueError):
    """The request context names no tenant and the store was not built single-tenant."""


class IdConflictError(StoreError):
    """A new thread, item or attachment has the id of another one of the same owner; nothing was written."""


class StoreRejectedError(StoreError):
    """The database refused the operation for good (a size limit, a constraint): retrying will not help."""


class StoreUnavailableError(StoreError):
    """The database could not be reached, or the connection failed during an operation."""


class TurnLockLostError(StoreUnavailableError):
    """A turn's lock ended with its database session; the turn may no longer write the thread."""

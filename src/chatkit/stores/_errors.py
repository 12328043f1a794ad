"""Errors raised by the bundled stores: the `StoreError` branch of the tree drawn in `chatkit.errors`.

    StoreError                -- root of the errors of `chatkit.stores`
    ├── ScopeError            -- misuse: the request context names no tenant (also a ValueError)
    ├── IdConflictError       -- 409: a new thread, item or attachment reuses an id its owner already has
    ├── StoreRejectedError    -- permanent: the database refused the operation; retrying cannot help
    └── StoreUnavailableError -- 503, transient: the database cannot be reached or failed mid-operation
        └── TurnLockLostError -- a turn's lock ended with its database session

A missing or other-tenant row is `chatkit.store.NotFoundError`, as the `Store` interface says.
"""

from chatkit.errors import ChatKitError


class StoreError(ChatKitError):
    """Root of the errors raised by the stores of `chatkit.stores`."""


class ScopeError(StoreError, ValueError):
    """The request context names no tenant and the store was not built single-tenant."""


class IdConflictError(StoreError):
    """A new thread, item or attachment has the id of another one of the same owner; nothing was written."""

    http_status = 409
    http_code = "conflict"


class StoreRejectedError(StoreError):
    """The database refused the operation for good (a size limit, a constraint): retrying will not help."""


class StoreUnavailableError(StoreError):
    """The database could not be reached, or the connection failed during an operation."""

    http_status = 503
    http_code = "unavailable"

    def public_message(self) -> str:
        """A fixed line: the driver's text names hosts and users."""
        return "the store is unavailable, try again later"


class TurnLockLostError(StoreUnavailableError):
    """A turn's lock ended with its database session; the turn may no longer write the thread."""

"""The package's errors in one tree; each class carries its HTTP answer (`http_status`, `http_code`).

ChatKitError                   -- root of the package's own errors (500 internal_error)
├── BaseStreamError            -- abstract: ends a stream with an `error` event instead of propagating
│   ├── StreamError            -- a well-known error code the client localizes
│   └── CustomStreamError      -- a message of the integrator's own, shown as is
├── InvalidRequestError        -- 400 invalid_request: the request cannot be carried out as asked
│                                 (a ValueError; `process()` raises plain ValueErrors, as the reference)
├── NotFoundError              -- 404 not_found: no such thread, item or attachment for the caller
│                                 (published by `chatkit.store`)
├── AttachmentRejectedError    -- 413/415 attachment_rejected: an upload the attachment store refused
│                                 (a ValueError; published by `chatkit.attachments`)
├── StoreError                 -- errors of the bundled stores (`chatkit.stores`)
│   ├── ScopeError             -- misuse: the request context names no tenant (a ValueError)
│   ├── IdConflictError        -- 409 conflict: a new row reuses an id its owner already has
│   ├── StoreRejectedError     -- permanent: the database refused the operation
│   └── StoreUnavailableError  -- 503 unavailable: the database cannot be reached right now
│       └── TurnLockLostError  -- a turn's lock ended with its database session
└── HTTPProblem, HTTPAuthError -- answers decided by the HTTP layer (`chatkit.asgi`), status per instance

An HTTP client sees the message of a 4xx error; a 5xx says only what failed, never the
exception's text, which may carry internals. Exceptions outside the tree answer 500 (logged),
or 501 for a `NotImplementedError`, with a generic message.
"""

from abc import ABC
from enum import Enum
from typing import cast


class ChatKitError(Exception):
    """Root of the errors raised by chatkit itself."""

    http_status: int = 500
    """The HTTP status an endpoint answers with."""
    http_code: str = "internal_error"
    """The machine-readable error code of the HTTP answer."""

    def public_message(self) -> str:
        """What an HTTP client is told: this error's own text for a 4xx, a generic line for a 5xx."""
        if self.http_status < 500:
            return str(self) or self.http_code
        return "internal server error"


class InvalidRequestError(ChatKitError, ValueError):
    """The request is well formed but cannot be carried out as asked (wrong item, wrong state)."""

    http_status = 400
    http_code = "invalid_request"


class ErrorCode(str, Enum):
    """Error codes the client knows how to present."""

    STREAM_ERROR = "stream.error"


DEFAULT_STATUS: dict[ErrorCode, int] = {ErrorCode.STREAM_ERROR: 500}
"""The HTTP status that goes with each error code."""

DEFAULT_ALLOW_RETRY: dict[ErrorCode, bool] = {ErrorCode.STREAM_ERROR: True}
"""Whether the client offers a retry for each error code when the raiser does not say."""

DEFAULT_ERROR_MESSAGE = "An error occurred when generating a response."
"""The reference's generic failure text (published by `chatkit.server`)."""


class BaseStreamError(ABC, ChatKitError):
    """Root of the errors that end a stream with an `error` event instead of propagating."""

    allow_retry: bool


class StreamError(BaseStreamError):
    """End the stream with one of the client's well-known error codes."""

    def __init__(self, code: ErrorCode, *, allow_retry: bool | None = None) -> None:
        # The codes are an open set: a plain string is accepted as well.
        given = cast(object, code)
        super().__init__(code.value if isinstance(given, ErrorCode) else str(given))
        # The error code of the stream's `error` event; the HTTP status stays the class's.
        self.code = code
        self.allow_retry = DEFAULT_ALLOW_RETRY.get(code, False) if allow_retry is None else allow_retry


class CustomStreamError(BaseStreamError):
    """End the stream showing `message` to the user."""

    def __init__(self, message: str, *, allow_retry: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.allow_retry = allow_retry


__all__ = [
    "DEFAULT_ALLOW_RETRY",
    "DEFAULT_ERROR_MESSAGE",
    "DEFAULT_STATUS",
    "BaseStreamError",
    "ChatKitError",
    "CustomStreamError",
    "ErrorCode",
    "InvalidRequestError",
    "StreamError",
]

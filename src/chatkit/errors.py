"""Errors a responder raises to end a stream with an `error` event.

BaseStreamError          -- abstract root of the stream errors
├── StreamError          -- a well-known error code the client localizes
└── CustomStreamError    -- a message of the integrator's own, shown as is
"""

from abc import ABC
from enum import Enum


class ErrorCode(str, Enum):
    """Error codes the client knows how to present."""

    STREAM_ERROR = "stream.error"


DEFAULT_STATUS: dict[ErrorCode, int] = {ErrorCode.STREAM_ERROR: 500}
"""The HTTP status that goes with each error code."""

DEFAULT_ALLOW_RETRY: dict[ErrorCode, bool] = {ErrorCode.STREAM_ERROR: True}
"""Whether the client offers a retry for each error code when the raiser does not say."""

DEFAULT_ERROR_MESSAGE = "An error occurred when generating a response."
"""The reference's generic failure text (published by `chatkit.server`)."""


class BaseStreamError(ABC, Exception):
    """Root of the errors that end a stream with an `error` event instead of propagating."""

    allow_retry: bool


class StreamError(BaseStreamError):
    """End the stream with one of the client's well-known error codes."""

    def __init__(self, code: ErrorCode, *, allow_retry: bool | None = None) -> None:
        super().__init__(code.value if isinstance(code, ErrorCode) else code)
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
    "CustomStreamError",
    "ErrorCode",
    "StreamError",
]

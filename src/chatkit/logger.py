"""The package logger; integrators configure it like any `logging` logger."""

import json
import logging
from datetime import datetime, timezone
from typing import Any

logger = logging.getLogger("chatkit")

# What every LogRecord has; anything else on a record was passed as `extra=` and is a field of its own
# (but uvicorn's copy of its message with terminal colours, which a JSON reader has no use for).
_STANDARD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, None, None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the `extra=` fields, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD_FIELDS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def json_logging_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` writing the server's and the package's records to stderr as JSON lines."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": {
            name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
            for name in ("chatkit", "uvicorn", "uvicorn.error")
        },
    }

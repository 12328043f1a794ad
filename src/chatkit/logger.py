"""The package logger; integrators configure it like any `logging` logger."""

import logging

logger = logging.getLogger("chatkit")

"""How the bridge's processes write logs: plain text by default; with LOG_FORMAT=json one JSON object per line,
written by python-json-logger's JsonFormatter (the stdlib-logging JSON formatter most Python services use), with
the record's extra fields (request id, SIDs) as keys. Every handler also gets the context's fields
(bridge/logcontext.py) and the mask for phone numbers and bodies (bridge/logmask.py), which covers extra fields.

`configure_root` is for the web process; `adopt` gives handlers made by others (Celery's, gunicorn's) the same
format and filters."""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from bridge import logmask
from bridge.logcontext import ContextFilter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONTEXT = ContextFilter()


class MaskedJsonFormatter(JsonFormatter):
    """JsonFormatter formats a record's exception afresh rather than reusing the masked text: mask it too."""

    def formatException(self, ei: Any) -> str:
        return logmask.mask(str(super().formatException(ei)))


def json_formatter() -> logging.Formatter:
    return MaskedJsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def formatter(log_format: str) -> logging.Formatter:
    return json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def adopt(handler: logging.Handler, log_format: str) -> None:
    """`handler` writes in `log_format` (text keeps the handler's own format), with context fields and the mask."""
    if log_format == "json" and not isinstance(handler.formatter, JsonFormatter):
        handler.setFormatter(json_formatter())
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        # The context first: the mask then covers the fields it adds as well.
        handler.filters.insert(0, _CONTEXT)
    logmask.install_on(handler)


def adopt_all(logger: logging.Logger, log_format: str) -> None:
    for handler in list(logger.handlers):
        adopt(handler, log_format)


def configure_root(level: str, log_format: str) -> None:
    """The root logger writes to stderr in `log_format`; called once per process (again changes nothing)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(log_format))
        root.addHandler(handler)
    root.setLevel(level)
    adopt_all(root, log_format)

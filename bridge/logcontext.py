"""What a log line is about: the request id and the conversation, message and delivery SIDs that the code handling
it knows, in context variables. The web edge sets them per request, the delivery task per delivery;
`ContextFilter` copies them onto every record, so a JSON line carries them as fields (and a text line may)."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

FIELDS = ("request_id", "conversation_sid", "message_sid", "delivery_sid")
_vars: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"bridge_{name}", default=None) for name in FIELDS
}
# A SID's prefix names the field it belongs in (what a URL's path parameters carry).
SID_FIELDS = {"CH": "conversation_sid", "IM": "message_sid", "DY": "delivery_sid"}


def bind(**fields: str | None) -> list[contextvars.Token[str | None]]:
    """Sets fields (names from FIELDS) for the rest of this context; `unbind` with the returned tokens."""
    return [_vars[name].set(value) for name, value in fields.items()]


def unbind(tokens: list[contextvars.Token[str | None]]) -> None:
    for token in reversed(tokens):
        token.var.reset(token)


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    tokens = bind(**fields)
    try:
        yield
    finally:
        unbind(tokens)


def fields_for_sids(values: object) -> dict[str, str]:
    """The log fields that SIDs among `values` name (e.g. a route's path parameters)."""
    found: dict[str, str] = {}
    for value in values if isinstance(values, list | tuple) else [values]:
        if isinstance(value, str) and len(value) == 34 and value[:2] in SID_FIELDS:
            found[SID_FIELDS[value[:2]]] = value
    return found


def current() -> dict[str, str]:
    return {name: value for name, var in _vars.items() if (value := var.get()) is not None}


class ContextFilter(logging.Filter):
    """Puts the context's fields on each record that passes (only those set, so a text line is unchanged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True

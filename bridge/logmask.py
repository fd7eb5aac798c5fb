"""A safety net for logs: phone numbers and message bodies are masked before a handler writes a record.

The bridge's own log lines name SIDs, never numbers or bodies. Libraries are another matter: werkzeug's and
gunicorn's request lines carry paths and query strings (`/v1/ParticipantConversations?Address=%2B1415...`), and
an exception's text can echo what a carrier was sent. `MaskingFilter` rewrites each record's final text (message,
exception, stack) so that `+14155552671` reads `+1415***2671` and the values of body fields (`Body=...`,
`"body": "..."`) read `***`. It masks logs only: the database and the admin views keep the real values.

`install_on()` puts the filter on a handler; bridge/logsetup.py does it for every handler of the web process,
gunicorn and Celery, after they are configured (a handler added later is not covered). Stdlib only: the domain
package imports neither Flask nor Celery.
"""

from __future__ import annotations

import logging
import re

MASK = "***"
# Fields whose value is message content, in the spellings logs meet: Twilio's form fields, the bridge's JSON and
# Python reprs (`body='...'`).
BODY_FIELDS = ("Body", "body", "MessageBody", "ContentVariables", "content_variables")

# A `+` (or its URL encoding %2B) and 7 to 15 digits: an E.164 number, in a URL, a form or plain text.
_NUMBER = re.compile(r"(\+|%2[bB])(\d{7,15})(?!\d)")
_FIELDS = "|".join(BODY_FIELDS)
# `"Body": "..."`, `'body': '...'` (JSON, dict reprs) and `body='...'` (dataclass reprs, keyword arguments).
_QUOTED_FIELD = re.compile(
    rf"""(?P<key>(?P<kq>["']?)\b(?:{_FIELDS})\b(?P=kq)\s*[:=]\s*)(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
)
# `Body=...` in a form body or query string: up to the next `&`, quote or white space.
_FORM_FIELD = re.compile(rf"""(?P<key>(?<![\w.])(?:{_FIELDS})=)(?P<value>[^&\s"']+)""")

# PostgreSQL's detail for a NOT NULL or CHECK violation prints the whole row, message body included.
_FAILING_ROW = re.compile(r"(Failing row contains )\(.*\)")


def _mask_number(match: re.Match[str]) -> str:
    plus, digits = match.group(1), match.group(2)
    # Country code and area, and the last four: enough to tell numbers apart in a log, not enough to dial.
    keep = 4 if len(digits) >= 11 else 2
    return f"{plus}{digits[:keep]}{MASK}{digits[-keep:]}"


def _mask_quoted(match: re.Match[str]) -> str:
    quote = match.group("value")[0]
    return f"{match.group('key')}{quote}{MASK}{quote}"


def mask(text: str) -> str:
    """`text` with phone numbers and body field values masked. Masking masked text changes nothing."""
    text = _FAILING_ROW.sub(r"\1(***)", text)
    text = _QUOTED_FIELD.sub(_mask_quoted, text)
    text = _FORM_FIELD.sub(lambda m: m.group("key") + MASK, text)
    return _NUMBER.sub(_mask_number, text)


class MaskingFilter(logging.Filter):
    """Masks a record's text in place, once, and lets it through.

    The record is shared by every handler that sees it, so the first masking handler protects the others too."""

    _DONE = "_bridge_masked"

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, self._DONE, False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format call: leave it for the handler to report as usual
            return True
        record.msg, record.args = mask(message), None
        for name, value in vars(record).items():  # extra fields (`extra=`, the log context): a JSON line has them
            if name not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, MASK if name in BODY_FIELDS else mask(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        setattr(record, self._DONE, True)
        return True


_FILTER = MaskingFilter()
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def installed_on(handler: logging.Handler) -> bool:
    return any(isinstance(existing, MaskingFilter) for existing in handler.filters)


def install_on(handler: logging.Handler) -> None:
    if not installed_on(handler):
        handler.addFilter(_FILTER)

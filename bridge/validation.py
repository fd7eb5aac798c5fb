"""Checks shared by every resource: JSON attributes, lengths, timers."""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Final
from urllib.parse import urlsplit

from bridge import errors, jsontext
from bridge.errors import invalid
from bridge.timeutil import parse_duration

# Twilio's documented limits (bytes of UTF-8 for attributes).
CONVERSATION_ATTRIBUTES_LIMIT = 16 * 1024
MESSAGE_ATTRIBUTES_LIMIT = 4 * 1024
PARTICIPANT_ATTRIBUTES_LIMIT = 4 * 1024
USER_ATTRIBUTES_LIMIT = 16 * 1024
FRIENDLY_NAME_LIMIT = 256
IDENTITY_LIMIT = 256
MESSAGE_BODY_LIMIT = 32 * 1024


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""A parameter the caller did not send (as opposed to one sent empty)."""


def attributes(raw: str, limit: int) -> str:
    if len(raw.encode()) > limit:
        raise invalid(f"Attributes exceed the {limit}-byte limit", errors.ATTRIBUTES_INVALID)
    jsontext.parse(raw, "Attributes not valid JSON", errors.ATTRIBUTES_INVALID)
    return raw


def url(raw: str, name: str) -> str:
    """An absolute http(s) URL the bridge will call later: refused now rather than failing then."""
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise invalid(f"{name} must be an absolute http or https URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in raw):
        raise invalid(f"{name} must be an absolute http or https URL")
    return raw


def text(raw: str, name: str, limit: int, code: int = errors.INVALID_PARAMETER) -> str:
    if len(raw) > limit:
        raise invalid(f"{name} must be at most {limit} characters", code)
    return raw


TIMER_LIMIT = 64  # the width of every timer column
MAX_TIMER = timedelta(days=36500)  # Twilio names no maximum; this one keeps every deadline inside the calendar


def timer(raw: str, name: str, minimum: timedelta) -> str:
    """A timer duration (`PT5M`); Twilio's minimums are one minute (inactive) and ten (closed)."""
    if len(raw.strip()) > TIMER_LIMIT:
        raise invalid(f"{name} must be at most {TIMER_LIMIT} characters")
    try:
        value = parse_duration(raw)
    except ValueError:
        raise invalid(f"{name} must be an ISO-8601 duration such as PT10M") from None
    if value < minimum:
        raise invalid(f"{name} must be at least {int(minimum.total_seconds() // 60)} minutes")
    if value > MAX_TIMER:  # a deadline must still be a date: now + P3000000D is past year 9999
        raise invalid(f"{name} must be at most 100 years (P36500D)")
    return raw.strip().upper()

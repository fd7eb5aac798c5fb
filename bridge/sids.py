"""Twilio-style resource identifiers: two uppercase letters and 32 hex digits."""

from __future__ import annotations

import re
import uuid

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def new_sid(prefix: str) -> str:
    if len(prefix) != 2 or not prefix.isupper():
        raise ValueError(f"bad SID prefix {prefix!r}")
    return prefix + uuid.uuid4().hex


def is_sid(value: str | None, prefix: str | None = None) -> bool:
    if not value or not _SID.match(value):
        return False
    return prefix is None or value.startswith(prefix)

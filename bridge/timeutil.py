"""Times as Twilio writes them: UTC, second precision, and ISO-8601 durations for timers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(ISO_FORMAT)


def parse_datetime(raw: str) -> datetime:
    """Accepts `YYYY-MM-DDTHH:MM:SSZ`, fractions and offsets; always returns aware UTC."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_duration(raw: str) -> timedelta:
    """ISO-8601 durations as Twilio's timers use them (`PT1M`, `PT10M`, `P1DT2H`)."""
    match = _DURATION.match(raw.strip().upper())
    if not match or raw.strip().upper() in ("P", "PT") or raw.strip().upper().endswith("T"):
        raise ValueError(f"not an ISO-8601 duration: {raw!r}")
    parts = {name: int(value) for name, value in match.groupdict().items() if value}
    return timedelta(**parts)

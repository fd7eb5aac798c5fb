"""Times as Twilio writes them: UTC, second precision, and ISO-8601 durations for timers."""

from __future__ import annotations

import email.utils
import math
import re
from datetime import UTC, datetime, timedelta

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# ASCII digits only: `\d` would also take other scripts' digits (`PT٣M`), which no client sends.
_DURATION = re.compile(
    r"P(?:(?P<days>[0-9]+)D)?(?:T(?:(?P<hours>[0-9]+)H)?(?:(?P<minutes>[0-9]+)M)?(?:(?P<seconds>[0-9]+)S)?)?"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # isoformat pads the year to four digits; strftime's %Y writes year 441 as "441" (not Twilio's format).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def parse_datetime(raw: str) -> datetime:
    """Accepts `YYYY-MM-DDTHH:MM:SSZ`, fractions and offsets; always returns aware UTC."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 lies past the last representable instant
        raise ValueError(f"date-time out of range: {raw!r}") from None


def parse_duration(raw: str) -> timedelta:
    """ISO-8601 durations as Twilio's timers use them (`PT1M`, `PT10M`, `P1DT2H`)."""
    text = raw.strip()
    # Checked before upper(), which maps some non-ASCII letters onto designators (U+017F -> "S").
    match = _DURATION.fullmatch(text.upper()) if text.isascii() else None
    if not match or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        raise ValueError(f"not an ISO-8601 duration: {raw!r}")
    parts = {name: int(value) for name, value in match.groupdict().items() if value}
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(f"duration out of range: {raw!r}") from None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """An HTTP `Retry-After` in seconds from now: delay-seconds (what Twilio, FCM and APNs send) or an HTTP-date
    (RFC 9110 allows both); None when absent or unreadable, so the caller's own backoff applies."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)  # "1.5" is not in the RFC, but unambiguous
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or utcnow())).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None

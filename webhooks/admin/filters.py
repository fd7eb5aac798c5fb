"""Request parameters -> `bridge.admin.DeliveryFilter`, the same for the JSON API (query, JSON or form body)
and the console's forms.

Names mirror the CLI: `status` and `error_code` (repeatable, or comma-separated), `since`/`until` (`2h`, `30m`,
`7d` or ISO-8601), `service`, `conversation`, `message`, `address`, `channel`, and `sid` (delivery SIDs,
repeatable; `sids` in JSON). `status=all` means any status. Unknown names are refused rather than ignored: a
typo must not widen a replay to every failed delivery.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from bridge import admin, delivery
from bridge.errors import invalid

ANY_STATUS = "all"
CHANNELS = ("sms", "whatsapp")
FILTER_NAMES = (
    "status",
    "error_code",
    "since",
    "until",
    "service",
    "conversation",
    "message",
    "address",
    "channel",
    "sid",
)
ALIASES = {"sids": "sid", "error_codes": "error_code", "statuses": "status"}
SID_PREFIXES = {"service": "IS", "conversation": "CH", "message": "IM", "sid": "DY"}
MAX_SIDS = 1000
MAX_ERROR_CODE = 999_999


def values_from_json(body: Any) -> MultiDict[str, str]:
    """A JSON object of filter fields (strings, numbers or lists of them) as form-like multi-values."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    values: MultiDict[str, str] = MultiDict()
    for name, value in body.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None:
                continue
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise invalid(f"{name} must be a string, a number or a list of them")
            values.add(str(name), str(item))
    return values


def _split(raw: Iterable[str]) -> list[str]:
    """Repeated values and comma-separated ones alike; blanks dropped (an empty form field means no filter)."""
    return [part.strip() for value in raw for part in value.split(",") if part.strip()]


def _sid(name: str, value: str) -> str:
    prefix = SID_PREFIXES[name]
    if not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
        raise invalid(f"{name} must be a {prefix} SID ({prefix} followed by 32 hex digits), got {value[:40]!r}")
    return value


def _statuses(raw: list[str], default: tuple[str, ...]) -> tuple[str, ...]:
    if not raw:
        return default
    if ANY_STATUS in (value.lower() for value in raw):
        return ()
    for status in raw:
        if status not in delivery.STATUSES:
            raise invalid(f"Unknown status {status!r}; one of {', '.join(delivery.STATUSES)}, or {ANY_STATUS}")
    return tuple(dict.fromkeys(raw))


def _error_codes(raw: list[str]) -> tuple[int, ...]:
    codes = []
    for value in raw:
        # ASCII and short first: "²" passes isdigit() but not int(), and 5,000 digits pass neither int() nor a column.
        if not (value.isascii() and value.isdigit()) or len(value) > 6 or int(value) > MAX_ERROR_CODE:
            raise invalid(f"error_code must be a carrier error code (a number such as 21211), got {value[:20]!r}")
        codes.append(int(value))
    return tuple(dict.fromkeys(codes))


def _one(values: Mapping[str, list[str]], name: str) -> str | None:
    given = values.get(name) or []
    if len(given) > 1:
        raise invalid(f"{name} can be given once")
    return given[0] if given else None


def delivery_filter(
    source: MultiDict[str, str], ignore: Iterable[str] = (), default_statuses: tuple[str, ...] = (delivery.FAILED,)
) -> admin.DeliveryFilter:
    """The filter `source` describes. Names in `ignore` (paging, CSRF token, buttons) are skipped."""
    skipped = set(ignore)
    values: dict[str, list[str]] = {}
    for name, raw in source.lists():
        if name in skipped:
            continue
        canonical = ALIASES.get(name, name)
        if canonical not in FILTER_NAMES:
            raise invalid(f"Unknown filter {name!r}; filters are {', '.join(FILTER_NAMES)}")
        for value in raw:
            if "\x00" in value:
                raise invalid(f"{name} must not contain NUL characters")
        values.setdefault(canonical, []).extend(_split(raw))
    sids = tuple(dict.fromkeys(_sid("sid", value) for value in values.get("sid", [])))
    if len(sids) > MAX_SIDS:
        raise invalid(f"At most {MAX_SIDS} delivery SIDs at once")
    channel = _one(values, "channel")
    if channel is not None and channel.lower() not in CHANNELS:
        raise invalid(f"channel must be one of {', '.join(CHANNELS)}")
    since, until = _one(values, "since"), _one(values, "until")
    service, conversation, message = (_one(values, name) for name in ("service", "conversation", "message"))
    return admin.DeliveryFilter(
        statuses=_statuses(values.get("status", []), default_statuses),
        error_codes=_error_codes(values.get("error_code", [])),
        since=admin.parse_moment(since) if since else None,
        until=admin.parse_moment(until) if until else None,
        service_sid=_sid("service", service) if service else None,
        conversation_sid=_sid("conversation", conversation) if conversation else None,
        message_sid=_sid("message", message) if message else None,
        address=_one(values, "address"),
        channel=channel.lower() if channel else None,
        delivery_sids=sids,
    )


def names_given(source: MultiDict[str, str], ignore: Iterable[str] = ()) -> list[str]:
    """The filter names that carry a value (a replay must name something)."""
    skipped = set(ignore)
    return [name for name, raw in source.lists() if name not in skipped and _split(raw)]


def replayable(filt: admin.DeliveryFilter) -> admin.DeliveryFilter | None:
    """The part of `filt` a replay acts on (its failed and undelivered deliveries); None when that is nothing."""
    statuses = tuple(s for s in filt.statuses if s in admin.REPLAYABLE) if filt.statuses else admin.REPLAYABLE
    if not statuses:
        return None
    return dataclasses.replace(filt, statuses=statuses)

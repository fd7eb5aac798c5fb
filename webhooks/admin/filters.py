"""Request parameters -> `bridge.admin.DeliveryFilter` or `bridge.hooks.admin.WebhookCallFilter`, the same for
the JSON API (query, JSON or form body) and the console's forms.

Delivery filters mirror the CLI: `status` and `error_code` (repeatable, or comma-separated), `since`/`until`
(`2h`, `30m`, `7d` or ISO-8601), `service`, `conversation`, `message`, `address`, `channel`, and `sid` (delivery
SIDs, repeatable; `sids` in JSON). Webhook call filters: `status`, `event_type` (repeatable), `target`
(`account`, `service` or a `WH` SID), `url` (exactly), `since`/`until`, `service`, `conversation` and `sid` (`WC`
SIDs). `status=all` means any status. Unknown names are refused rather than ignored: a typo must not widen a
replay to every failed row.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from bridge import admin, delivery
from bridge.errors import invalid
from bridge.hooks import admin as hooks_admin
from bridge.hooks import outbox
from bridge.push import admin as push_admin
from bridge.push import outbox as push_outbox

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
WEBHOOK_FILTER_NAMES = ("status", "event_type", "target", "url", "since", "until", "service", "conversation", "sid")
ALIASES = {"sids": "sid", "error_codes": "error_code", "statuses": "status", "event_types": "event_type"}
SID_PREFIXES = {"service": "IS", "conversation": "CH", "message": "IM", "sid": "DY"}
CALL_SID_PREFIX = "WC"
PUSH_FILTER_NAMES = ("status", "since", "until", "service", "conversation", "identity", "sid")
PUSH_SID_PREFIX = "NT"
WHOLE = ("url",)  # values taken as given: a URL may hold commas
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


def _sid(name: str, value: str, prefix: str | None = None) -> str:
    prefix = prefix or SID_PREFIXES[name]
    if not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
        raise invalid(f"{name} must be a {prefix} SID ({prefix} followed by 32 hex digits), got {value[:40]!r}")
    return value


def _statuses(raw: list[str], default: tuple[str, ...], known: tuple[str, ...] = delivery.STATUSES) -> tuple[str, ...]:
    if not raw:
        return default
    if ANY_STATUS in (value.lower() for value in raw):
        return ()
    for status in raw:
        if status not in known:
            raise invalid(f"Unknown status {status!r}; one of {', '.join(known)}, or {ANY_STATUS}")
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


def _collect(source: MultiDict[str, str], ignore: Iterable[str], names: tuple[str, ...]) -> dict[str, list[str]]:
    """The values of each known name (aliases resolved, repeated and comma-separated values split); names in
    `ignore` (paging, CSRF token, buttons) are skipped, any other name is refused."""
    skipped = set(ignore)
    values: dict[str, list[str]] = {}
    for name, raw in source.lists():
        if name in skipped:
            continue
        canonical = ALIASES.get(name, name)
        if canonical not in names:
            raise invalid(f"Unknown filter {name!r}; filters are {', '.join(names)}")
        for value in raw:
            if "\x00" in value:
                raise invalid(f"{name} must not contain NUL characters")
        given = [value.strip() for value in raw if value.strip()] if canonical in WHOLE else _split(raw)
        values.setdefault(canonical, []).extend(given)
    return values


def _sids(values: Mapping[str, list[str]], prefix: str, noun: str) -> tuple[str, ...]:
    sids = tuple(dict.fromkeys(_sid("sid", value, prefix) for value in values.get("sid", [])))
    if len(sids) > MAX_SIDS:
        raise invalid(f"At most {MAX_SIDS} {noun} SIDs at once")
    return sids


def _moments(values: Mapping[str, list[str]]) -> dict[str, Any]:
    since, until = _one(values, "since"), _one(values, "until")
    return {
        "since": admin.parse_moment(since) if since else None,
        "until": admin.parse_moment(until) if until else None,
    }


def delivery_filter(
    source: MultiDict[str, str], ignore: Iterable[str] = (), default_statuses: tuple[str, ...] = (delivery.FAILED,)
) -> admin.DeliveryFilter:
    """The filter `source` describes. Names in `ignore` (paging, CSRF token, buttons) are skipped."""
    values = _collect(source, ignore, FILTER_NAMES)
    sids = _sids(values, SID_PREFIXES["sid"], "delivery")
    channel = _one(values, "channel")
    if channel is not None and channel.lower() not in CHANNELS:
        raise invalid(f"channel must be one of {', '.join(CHANNELS)}")
    service, conversation, message = (_one(values, name) for name in ("service", "conversation", "message"))
    return admin.DeliveryFilter(
        statuses=_statuses(values.get("status", []), default_statuses),
        error_codes=_error_codes(values.get("error_code", [])),
        **_moments(values),
        service_sid=_sid("service", service) if service else None,
        conversation_sid=_sid("conversation", conversation) if conversation else None,
        message_sid=_sid("message", message) if message else None,
        address=_one(values, "address"),
        channel=channel.lower() if channel else None,
        delivery_sids=sids,
    )


def webhook_call_filter(
    source: MultiDict[str, str], ignore: Iterable[str] = (), default_statuses: tuple[str, ...] = (outbox.FAILED,)
) -> hooks_admin.WebhookCallFilter:
    """The webhook call filter `source` describes. Names in `ignore` are skipped."""
    values = _collect(source, ignore, WEBHOOK_FILTER_NAMES)
    target, service, conversation = (_one(values, name) for name in ("target", "service", "conversation"))
    return hooks_admin.WebhookCallFilter(
        statuses=_statuses(values.get("status", []), default_statuses, outbox.STATUSES),
        event_types=tuple(dict.fromkeys(values.get("event_type", []))),  # checked by the query
        target=hooks_admin.check_target(target) if target else None,
        url=_one(values, "url"),
        **_moments(values),
        service_sid=_sid("service", service) if service else None,
        conversation_sid=_sid("conversation", conversation) if conversation else None,
        call_sids=_sids(values, CALL_SID_PREFIX, "webhook call"),
    )


def push_filter(
    source: MultiDict[str, str], ignore: Iterable[str] = (), default_statuses: tuple[str, ...] = (push_outbox.FAILED,)
) -> push_admin.PushFilter:
    """The push filter `source` describes: `status`, `since`/`until`, `service`, `conversation`, `identity` and
    `sid` (`NT` SIDs). Names in `ignore` are skipped."""
    values = _collect(source, ignore, PUSH_FILTER_NAMES)
    service, conversation = (_one(values, name) for name in ("service", "conversation"))
    return push_admin.PushFilter(
        statuses=_statuses(values.get("status", []), default_statuses, push_outbox.STATUSES),
        service_sid=_sid("service", service) if service else None,
        identity=_one(values, "identity"),
        conversation_sid=_sid("conversation", conversation) if conversation else None,
        **_moments(values),
        push_sids=_sids(values, PUSH_SID_PREFIX, "push"),
    )


def names_given(source: MultiDict[str, str], ignore: Iterable[str] = ()) -> list[str]:
    """The filter names that carry a value (a replay must name something)."""
    skipped = set(ignore)
    return [name for name, raw in source.lists() if name not in skipped and _split(raw)]


def replayable(filt: Any, kind: admin.ReplayKind[Any] = admin.DELIVERIES) -> Any:
    """The part of `filt` a replay acts on (its replayable rows: failed and undelivered deliveries, failed webhook
    calls); None when that is nothing."""
    statuses = tuple(s for s in filt.statuses if s in kind.replayable) if filt.statuses else kind.replayable
    if not statuses:
        return None
    return dataclasses.replace(filt, statuses=statuses)


@dataclass(frozen=True)
class Kind:
    """What the faces need to turn parameters into a replay of one kind of row."""

    name: str  # the replay body's `kind`
    replay: admin.ReplayKind[Any]
    parse: Callable[..., Any]  # (source, ignore=..., default_statuses=...) -> its filter
    sid_prefix: str

    def named(self, sids: Iterable[str]) -> Any:
        """The replayable rows among these SIDs."""
        return replayable(
            self.parse(MultiDict([("sid", sid) for sid in sids]), default_statuses=self.replay.replayable), self.replay
        )


DELIVERIES = Kind("delivery", admin.DELIVERIES, delivery_filter, SID_PREFIXES["sid"])
WEBHOOK_CALLS = Kind("webhook", hooks_admin.WEBHOOK_CALLS, webhook_call_filter, CALL_SID_PREFIX)
PUSHES = Kind("push", push_admin.PUSHES, push_filter, PUSH_SID_PREFIX)
KINDS = {kind.name: kind for kind in (DELIVERIES, WEBHOOK_CALLS, PUSHES)}
KIND = "kind"  # the replay body's field that names the kind


def kind_of(source: MultiDict[str, str]) -> Kind:
    """The kind a replay body names: `kind` (delivery, webhook), else the kind of its SIDs, else deliveries."""
    given = _one({KIND: _split(source.getlist(KIND))}, KIND)
    if given is not None:
        if given not in KINDS:
            raise invalid(f"kind must be one of {', '.join(KINDS)}, got {given[:40]!r}")
        return KINDS[given]
    prefixes = {value[:2] for name in ("sid", "sids") for value in _split(source.getlist(name))}
    kinds = [kind for kind in KINDS.values() if kind.sid_prefix in prefixes]
    if len(kinds) > 1:
        raise invalid("Replay one kind at a time: delivery SIDs (DY...), webhook call SIDs (WC...) or pushes (NT...)")
    return kinds[0] if kinds else DELIVERIES

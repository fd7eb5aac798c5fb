"""The web console under `/admin`: server-rendered pages over `bridge.admin`, with a little plain JavaScript.

Every page needs the admin's session (else: the sign-in page); every change is a POST carrying the CSRF token,
and lands in the audit trail with the signed-in admin as its actor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import redis
from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from bridge import admin, delivery
from bridge.carriers import sends_nowhere
from bridge.errors import BridgeError, invalid, not_found
from bridge.hooks import admin as hooks_admin
from bridge.hooks import outbox
from bridge.models import UnroutedMessage
from bridge.paging import KEY_MAX, PageRequest
from bridge.timeutil import iso, utcnow
from webhooks import health
from webhooks.admin import auth, chart, csrf, filters, present
from webhooks.api.base import database, page_request
from workers import liveness

blueprint = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

PAGING = ("Page", "PageSize", "PageToken")
# Form fields of the replay form that are not part of the filter it carries.
REPLAY_FIELDS = ("csrf_token", "scope", "one", "selected", "return_to")
# Dashboard windows: how far back, and the width of one bar in minutes.
WINDOWS = {"1h": ("last hour", 5), "6h": ("last 6 hours", 30), "24h": ("last 24 hours", 120)}
STATUS_CHOICES = [
    ("failed", "Failed"),
    ("undelivered", "Undelivered"),
    ("failed,undelivered", "Failed or undelivered"),
    ("pending,sending", "In flight"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("all", "Any status"),
]
WEBHOOK_STATUS_CHOICES = [
    ("failed", "Failed"),
    ("pending,sending", "In flight"),
    ("delivered", "Delivered"),
    ("all", "Any status"),
]
TARGET_CHOICES = [("", "Any"), ("account", "Account"), ("service", "Service")]
UNROUTED_TABS = {
    "unrouted": "Waiting",
    "routed": "Routed",
    "held": "Held",
    "rejected": "Rejected",
}
# After a replay the list shows what was replayed; a selection is named by SID while the URL stays short.
MAX_SIDS_IN_URL = 60
CONSOLE_PAGE_SIZE = 50
CONSOLE_MAX_PAGE_SIZE = 200


@blueprint.before_request
def _signed_in_only() -> Response | None:
    if request.endpoint == "admin.static":
        return None
    user = auth.signed_in_admin()
    if user is None:
        return auth.sign_in_redirect()
    g.admin_user = user
    csrf.protect()
    return None


@blueprint.app_context_processor
def _helpers() -> dict[str, Any]:
    if not request.path.startswith(auth.HOME):
        return {}
    return {**present.template_helpers(), "admin_user": g.get("admin_user"), "url_with": url_with}


@blueprint.errorhandler(BridgeError)
def _refused(error: BridgeError) -> tuple[str, int]:
    return render_template("admin/error.html", title="That did not work", message=error.message), error.status


@blueprint.errorhandler(csrf.CSRFError)
def _stale_form(_error: csrf.CSRFError) -> tuple[str, int]:
    message = "This form had expired or did not come from the console. Reload the page and try again."
    return render_template("admin/error.html", title="Nothing was changed", message=message), 400


def url_with(**changes: Any) -> str:
    """This page's URL with some query parameters replaced (None removes one): paging links, tabs."""
    args = MultiDict(request.args)
    for name, value in changes.items():
        args.poplist(name)
        if value is not None:
            args.setlist(name, value if isinstance(value, list) else [value])
    query = urlencode(list(args.items(multi=True)))
    return request.path + (f"?{query}" if query else "")


def _console_page(default_size: int = CONSOLE_PAGE_SIZE) -> PageRequest:
    return page_request(max_size=CONSOLE_MAX_PAGE_SIZE, default_size=default_size)


# -- dashboard ---------------------------------------------------------------------------------------------------


@blueprint.get("")
def dashboard() -> str:
    window = request.args.get("window", "1h")
    if window not in WINDOWS:
        window = "1h"
    label, minutes = WINDOWS[window]
    since = admin.parse_moment(window)
    with database().transaction() as session:
        buckets = admin.status_buckets(session, since, minutes)
        by_status = admin.counts_by_status(session, since)
        by_code = admin.failures_by_error_code(session, since)
        waiting = session.scalar(
            select(func.count()).select_from(UnroutedMessage).where(UnroutedMessage.status == "unrouted")
        )
        calls_by_status = hooks_admin.counts_by_status(session, since)
        calls_by_error = hooks_admin.failures_by_error(session, since)
        failed_calls = hooks_admin.count_matching(session, hooks_admin.WebhookCallFilter())
        recent = admin.audit_trail(session, PageRequest(page_size=6)).items
    try:
        workers: list[liveness.SeenWorker] | None = liveness.seen(health.quick_redis())
    except redis.RedisError:
        workers = None  # Redis is unreachable: the page says so rather than wait for it
    settings = current_app.extensions["bridge.settings"]
    return render_template(
        "admin/dashboard.html",
        nav="dashboard",
        window=window,
        windows=WINDOWS,
        window_label=label,
        since=since,
        chart=chart.stacked_bars(buckets),
        by_status=by_status,
        by_code=by_code,
        unrouted_waiting=waiting or 0,
        calls_by_status=calls_by_status,
        calls_by_error=calls_by_error,
        failed_calls=failed_calls,
        recent=recent,
        workers=workers,
        worker_window=int(liveness.SEEN_WINDOW_SECONDS),
        sends_nowhere=sends_nowhere(settings),
    )


# -- deliveries --------------------------------------------------------------------------------------------------


def _joined(args: MultiDict[str, str], name: str) -> str:
    return ",".join(part.strip() for value in args.getlist(name) for part in value.split(",") if part.strip())


def _typed(args: MultiDict[str, str], *names: str) -> dict[str, Any]:
    """The single-valued fields as the admin typed them, and the SIDs the list is narrowed to."""
    state: dict[str, Any] = {name: (args.get(name) or "").strip() for name in names}
    state.update(status=_joined(args, "status") or "failed", sid=[sid for sid in args.getlist("sid") if sid])
    return state


def _form_state(args: MultiDict[str, str]) -> dict[str, Any]:
    """What the filter form shows: the values as the admin typed them."""
    state = _typed(args, "since", "until", "service", "conversation", "message", "address", "channel")
    state.update(error_code=_joined(args, "error_code"))
    return state


def _frozen(filt: admin.DeliveryFilter, state: dict[str, Any]) -> list[tuple[str, str]]:
    """The filter as hidden fields for 'replay all matching', with relative times made absolute: the replay acts
    on what the admin saw, not on a window that moved on while they read."""
    fields = [("status", state["status"])]
    fields += [("error_code", str(code)) for code in filt.error_codes]
    if filt.since:
        fields.append(("since", filt.since.isoformat()))
    if filt.until:
        fields.append(("until", filt.until.isoformat()))
    for name in ("service", "conversation", "message", "address", "channel"):
        if state[name]:
            fields.append((name, state[name]))
    fields += [("sid", sid) for sid in filt.delivery_sids]
    return fields


@blueprint.get("/deliveries")
def deliveries() -> tuple[str, int]:
    state = _form_state(request.args)
    page_req = _console_page()
    problem = None
    try:
        filt = filters.delivery_filter(request.args, ignore=PAGING)
        with database().transaction() as session:
            page = admin.list_deliveries(session, filt, page_req)
            matching = admin.count_matching(session, filt)
            target = filters.replayable(filt)
            replayable = admin.count_matching(session, target) if target else 0
    except BridgeError as error:  # a filter that does not parse: say so above the form, keep what was typed
        problem, filt, page, matching, replayable = error.message, admin.DeliveryFilter(), None, 0, 0
    return render_template(
        "admin/deliveries.html",
        nav="deliveries",
        state=state,
        status_choices=_status_choices(state["status"]),
        problem=problem,
        rows=page.items if page else [],
        page=page,
        matching=matching,
        replayable=replayable,
        frozen=_frozen(filt, state) if not problem else [],
    ), (400 if problem else 200)


def _status_choices(current: str, choices: list[tuple[str, str]] = STATUS_CHOICES) -> list[tuple[str, str]]:
    known = [value for value, _ in choices]
    return choices if current in known else [*choices, (current, current)]


@dataclass(frozen=True)
class _Replayed:
    """What the console's replay form needs of one kind: its list, its words, and where to watch the result."""

    kind: filters.Kind
    list_endpoint: str
    one: str  # the singular noun
    answerer: str  # who decides how the replayed rows end
    watch: Callable[[Any, datetime], str]


def _replay_from_form(replayed: _Replayed) -> Response:
    form = request.form
    kind = replayed.kind
    one, scope = form.get("one"), form.get("scope")
    if one or scope == "selected":
        sids = [one] if one else form.getlist("selected")
        if not sids:
            flash(f"Select the {kind.replay.noun} to replay first.", "warning")
            return redirect(_back(url_for(replayed.list_endpoint)))
        target = kind.named(sids)
    elif scope == "matching":
        target = filters.replayable(kind.parse(form, ignore=REPLAY_FIELDS), kind.replay)
    else:
        raise invalid(f"Choose what to replay: one {replayed.one}, the selected ones, or all matching")
    if target is None:
        raise kind.replay.refusal()
    started = utcnow()
    result = admin.replay(database().transaction, target, g.admin_user, kind=kind.replay)
    noun = replayed.one if result.replayed == 1 else kind.replay.noun
    message = f"Replayed {result.replayed} {noun}"
    if result.skipped:
        message += f"; {result.skipped} had been sent or replayed meanwhile"
    flash(
        message + f". Their statuses update below as {replayed.answerer} answers.",
        "success" if result.replayed else "info",
    )
    return_to = form.get("return_to")
    if return_to and auth.safe_next(return_to) == return_to:
        return redirect(return_to)
    return redirect(replayed.watch(target, started))


@blueprint.post("/deliveries/replay")
def replay() -> Response:
    return _replay_from_form(_DELIVERY_REPLAY)


def _back(default: str) -> str:
    """The console page the admin came from (Referer), or `default`: never somewhere else."""
    match = re.match(r"^https?://[^/]+(/.*)$", request.referrer or "")
    path = match.group(1) if match else ""
    return path if path and auth.safe_next(path) == path else default


def _watch(endpoint: str, started: datetime, narrowed: list[tuple[str, str | None]], sids: tuple[str, ...]) -> str:
    """The list of what a replay just moved: any status, updated since it began, narrowed like the replay."""
    query: list[tuple[str, str]] = [("status", "all"), ("since", iso(started) or "")]
    query += [(name, value) for name, value in narrowed if value]
    if 0 < len(sids) <= MAX_SIDS_IN_URL:
        query += [("sid", sid) for sid in sids]
    return url_for(endpoint) + "?" + urlencode(query)


def _watch_deliveries(target: admin.DeliveryFilter, started: datetime) -> str:
    narrowed = [
        ("service", target.service_sid),
        ("conversation", target.conversation_sid),
        ("message", target.message_sid),
        ("address", target.address),
        ("channel", target.channel),
    ]
    return _watch("admin.deliveries", started, narrowed, target.delivery_sids)


def _watch_calls(target: hooks_admin.WebhookCallFilter, started: datetime) -> str:
    narrowed: list[tuple[str, str | None]] = [("event_type", event_type) for event_type in target.event_types]
    narrowed += [
        ("target", target.target),
        ("url", target.url),
        ("service", target.service_sid),
        ("conversation", target.conversation_sid),
    ]
    return _watch("admin.webhooks", started, narrowed, target.call_sids)


_DELIVERY_REPLAY = _Replayed(filters.DELIVERIES, "admin.deliveries", "delivery", "the carrier", _watch_deliveries)
_CALL_REPLAY = _Replayed(filters.WEBHOOK_CALLS, "admin.webhooks", "webhook call", "the receiver", _watch_calls)


# -- webhook calls -----------------------------------------------------------------------------------------------


def _webhook_form_state(args: MultiDict[str, str]) -> dict[str, Any]:
    state = _typed(args, "since", "until", "target", "url", "service", "conversation")
    state.update(event_type=_joined(args, "event_type"))
    return state


def _frozen_calls(filt: hooks_admin.WebhookCallFilter, state: dict[str, Any]) -> list[tuple[str, str]]:
    """The filter as hidden fields for 'replay all matching', its relative times made absolute (see `_frozen`)."""
    fields = [("status", state["status"])]
    fields += [("event_type", event_type) for event_type in filt.event_types]
    if filt.since:
        fields.append(("since", filt.since.isoformat()))
    if filt.until:
        fields.append(("until", filt.until.isoformat()))
    for name in ("target", "url", "service", "conversation"):
        if state[name]:
            fields.append((name, state[name]))
    fields += [("sid", sid) for sid in filt.call_sids]
    return fields


@blueprint.get("/webhooks")
def webhooks() -> tuple[str, int]:
    state = _webhook_form_state(request.args)
    page_req = _console_page()
    problem = None
    try:
        filt = filters.webhook_call_filter(request.args, ignore=PAGING)
        with database().transaction() as session:
            page = hooks_admin.list_calls(session, filt, page_req)
            matching = hooks_admin.count_matching(session, filt)
            target = filters.replayable(filt, hooks_admin.WEBHOOK_CALLS)
            replayable = hooks_admin.count_matching(session, target) if target else 0
    except BridgeError as error:  # a filter that does not parse: say so above the form, keep what was typed
        problem, filt, page, matching, replayable = error.message, hooks_admin.WebhookCallFilter(), None, 0, 0
    return render_template(
        "admin/webhooks.html",
        nav="webhooks",
        state=state,
        status_choices=_status_choices(state["status"], WEBHOOK_STATUS_CHOICES),
        target_choices=TARGET_CHOICES,
        event_types=hooks_admin.EVENT_TYPES,
        problem=problem,
        rows=page.items if page else [],
        page=page,
        matching=matching,
        replayable=replayable,
        frozen=_frozen_calls(filt, state) if not problem else [],
    ), (400 if problem else 200)


@blueprint.post("/webhooks/replay")
def replay_webhooks() -> Response:
    return _replay_from_form(_CALL_REPLAY)


@blueprint.get("/webhooks/<call_sid>")
def webhook_call(call_sid: str) -> str:
    with database().transaction() as session:
        story = hooks_admin.call_story(session, call_sid)
    unfinished = story.call.status in outbox.UNFINISHED
    return render_template("admin/webhook_call.html", nav="webhooks", story=story, unfinished=unfinished)


# -- one message -------------------------------------------------------------------------------------------------


@blueprint.get("/messages/<message_sid>")
def timeline(message_sid: str) -> str:
    with database().transaction() as session:
        story = admin.timeline(session, message_sid)
    unfinished = any(r.delivery.status in (*delivery.UNFINISHED, delivery.SENT) for r in story.recipients)
    return render_template("admin/timeline.html", nav="deliveries", story=story, unfinished=unfinished)


@blueprint.get("/find")
def find() -> Response:
    """The search box: a SID or an address, to the page that shows it."""
    query = (request.args.get("q") or "").strip()
    destinations = {
        "IM": lambda: url_for("admin.timeline", message_sid=query),
        "WC": lambda: url_for("admin.webhook_call", call_sid=query),
        "DY": lambda: url_for("admin.deliveries", status="all", sid=query),
        "CH": lambda: url_for("admin.deliveries", status="all", conversation=query),
        "IS": lambda: url_for("admin.deliveries", status="all", service=query),
    }
    if query[:2] in destinations and re.fullmatch(r"[A-Z]{2}[0-9a-fA-F]{32}", query):
        return redirect(destinations[query[:2]]())
    if query.startswith(("+", "whatsapp:")):
        return redirect(url_for("admin.deliveries", status="all", address=query))
    flash("Search for a SID (IM…, DY…, WC…, CH…, IS…) or an address (+1415…, whatsapp:+1…).", "warning")
    return redirect(_back(url_for("admin.dashboard")))


# -- unrouted ----------------------------------------------------------------------------------------------------


@blueprint.get("/unrouted")
def unrouted() -> str:
    status = request.args.get("status", "unrouted")
    if status not in UNROUTED_TABS:
        status = "unrouted"
    page_req = _console_page()
    with database().transaction() as session:
        page = admin.list_unrouted(session, page_req, status)
    return render_template(
        "admin/unrouted.html", nav="unrouted", status=status, tabs=UNROUTED_TABS, page=page, rows=page.items
    )


@blueprint.post("/unrouted/<int:unrouted_id>/reroute")
def reroute(unrouted_id: int) -> Response:
    if unrouted_id > KEY_MAX:
        raise not_found(f"Unrouted message {unrouted_id} not found")
    result = admin.reroute(database().transaction, unrouted_id, g.admin_user)
    if result.routed:
        link = url_for("admin.timeline", message_sid=result.message_sid)
        flash(f"Routed message {unrouted_id} into its conversation as {result.message_sid}.", "success")
        return redirect(link)
    flash(f"Message {unrouted_id} was not routed: {result.reason}.", "warning")
    return redirect(url_for("admin.unrouted"))


# -- audit trail -------------------------------------------------------------------------------------------------


@blueprint.get("/audit")
def audit() -> str:
    page_req = _console_page()
    with database().transaction() as session:
        page = admin.audit_trail(session, page_req)
    return render_template("admin/audit.html", nav="audit", page=page, rows=page.items)

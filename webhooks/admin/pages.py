"""The web console under `/admin`: server-rendered pages over `bridge.admin`, with a little plain JavaScript.

Every page needs the admin's session (else: the sign-in page); every change is a POST carrying the CSRF token,
and lands in the audit trail with the signed-in admin as its actor.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import redis
from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from bridge import admin, delivery
from bridge.carriers import sends_nowhere
from bridge.errors import BridgeError, invalid, not_found
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
        recent=recent,
        workers=workers,
        worker_window=int(liveness.SEEN_WINDOW_SECONDS),
        sends_nowhere=sends_nowhere(settings),
    )


# -- deliveries --------------------------------------------------------------------------------------------------


def _form_state(args: MultiDict[str, str]) -> dict[str, Any]:
    """What the filter form shows: the values as the admin typed them."""

    def joined(name: str) -> str:
        return ",".join(part.strip() for value in args.getlist(name) for part in value.split(",") if part.strip())

    state = {name: (args.get(name) or "").strip() for name in ("since", "until", "service", "conversation", "message")}
    state.update(
        status=joined("status") or "failed",
        error_code=joined("error_code"),
        address=(args.get("address") or "").strip(),
        channel=(args.get("channel") or "").strip(),
        sid=[sid for sid in args.getlist("sid") if sid],
    )
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


def _status_choices(current: str) -> list[tuple[str, str]]:
    known = [value for value, _ in STATUS_CHOICES]
    return STATUS_CHOICES if current in known else [*STATUS_CHOICES, (current, current)]


@blueprint.post("/deliveries/replay")
def replay() -> Response:
    form = request.form
    one, scope = form.get("one"), form.get("scope")
    if one or scope == "selected":
        sids = [one] if one else form.getlist("selected")
        if not sids:
            flash("Select the deliveries to replay first.", "warning")
            return redirect(_back(url_for("admin.deliveries")))
        target = filters.replayable(
            filters.delivery_filter(MultiDict([("sid", sid) for sid in sids]), default_statuses=admin.REPLAYABLE)
        )
    elif scope == "matching":
        target = filters.replayable(filters.delivery_filter(form, ignore=REPLAY_FIELDS))
    else:
        raise invalid("Choose what to replay: one delivery, the selected ones, or all matching")
    if target is None:
        raise invalid("Only failed or undelivered deliveries can be replayed")
    started = utcnow()
    result = admin.replay(database().transaction, target, g.admin_user)
    noun = "delivery" if result.replayed == 1 else "deliveries"
    message = f"Replayed {result.replayed} {noun}"
    if result.skipped:
        message += f"; {result.skipped} had been sent or replayed meanwhile"
    flash(message + ". Their statuses update below as the carrier answers.", "success" if result.replayed else "info")
    return_to = form.get("return_to")
    if return_to and auth.safe_next(return_to) == return_to:
        return redirect(return_to)
    return redirect(_watch_url(target, started))


def _back(default: str) -> str:
    """The console page the admin came from (Referer), or `default`: never somewhere else."""
    match = re.match(r"^https?://[^/]+(/.*)$", request.referrer or "")
    path = match.group(1) if match else ""
    return path if path and auth.safe_next(path) == path else default


def _watch_url(target: admin.DeliveryFilter, started: Any) -> str:
    """The list of what a replay just moved: any status, updated since it began, narrowed like the replay."""
    query: list[tuple[str, str]] = [("status", "all"), ("since", iso(started) or "")]
    for name, value in (
        ("service", target.service_sid),
        ("conversation", target.conversation_sid),
        ("message", target.message_sid),
        ("address", target.address),
        ("channel", target.channel),
    ):
        if value:
            query.append((name, value))
    if 0 < len(target.delivery_sids) <= MAX_SIDS_IN_URL:
        query += [("sid", sid) for sid in target.delivery_sids]
    return url_for("admin.deliveries") + "?" + urlencode(query)


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
        "DY": lambda: url_for("admin.deliveries", status="all", sid=query),
        "CH": lambda: url_for("admin.deliveries", status="all", conversation=query),
        "IS": lambda: url_for("admin.deliveries", status="all", service=query),
    }
    if query[:2] in destinations and re.fullmatch(r"[A-Z]{2}[0-9a-fA-F]{32}", query):
        return redirect(destinations[query[:2]]())
    if query.startswith(("+", "whatsapp:")):
        return redirect(url_for("admin.deliveries", status="all", address=query))
    flash("Search for a SID (IM…, DY…, CH…, IS…) or an address (+1415…, whatsapp:+1…).", "warning")
    return redirect(_back(url_for("admin.dashboard")))


# -- unrouted ----------------------------------------------------------------------------------------------------


@blueprint.get("/unrouted")
def unrouted() -> str:
    status = request.args.get("status", "unrouted")
    if status not in ("unrouted", "routed"):
        status = "unrouted"
    page_req = _console_page()
    with database().transaction() as session:
        page = admin.list_unrouted(session, page_req, status)
    return render_template("admin/unrouted.html", nav="unrouted", status=status, page=page, rows=page.items)


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

"""The admin JSON API under `/admin/api/`: the operations of `bridge.admin` for scripts and for the console.

Authenticated by HTTP Basic with the admin credentials, or by the console's session cookie (then CSRF applies to
POST). Errors are the bridge's JSON (`code`, `message`, `more_info`, `status`). Lists are keyset-paged like the
REST API (`PageSize`, `PageToken`, `meta.next_page_url`). Documented in README.md, "Admin".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.datastructures import MultiDict

from bridge import admin, jsontext
from bridge.errors import BridgeError, invalid, not_found
from bridge.hooks import admin as hooks_admin
from bridge.paging import KEY_MAX, Page, PageRequest
from bridge.push import admin as push_admin
from bridge.timeutil import iso
from webhooks.admin import auth, csrf, filters, present, ratelimit
from webhooks.api.base import database, envelope, page_request
from webhooks.errors import error_response

blueprint = Blueprint("admin_api", __name__, url_prefix="/admin/api")

PAGING = ("Page", "PageSize", "PageToken")
FORM_FIELDS = ("csrf_token",)  # what the console's own forms add to a filter
MAX_PAGE_SIZE = 1000


@blueprint.before_request
def _authenticate() -> None:
    g.admin_user = auth.authenticate_api()


@blueprint.errorhandler(csrf.CSRFError)
def _csrf_refused(error: csrf.CSRFError) -> Response:
    message = f"CSRF check failed: {error.description} Send the console's token in the X-CSRFToken header."
    return error_response(BridgeError(auth.FORBIDDEN, message, 403))


@blueprint.errorhandler(ratelimit.RateLimitExceeded)
def _too_many(_error: ratelimit.RateLimitExceeded) -> Response:
    seconds = ratelimit.retry_after_seconds()
    message = ratelimit.TOO_MANY.format(seconds=seconds)
    return error_response(BridgeError(20429, message, 429), {"Retry-After": str(seconds)})


def _only(*names: str) -> None:
    # The query and a form body alike: a POST that takes no parameters takes none in either.
    unknown = [name for name in (*request.args, *request.form) if name not in names]
    if unknown:
        raise invalid(f"Unknown parameter {unknown[0]!r}; this endpoint takes {', '.join(names) or 'none'}")


def _listing(key: str, items: list[dict[str, Any]], page: Page[Any], page_req: PageRequest, **extra: Any) -> Response:
    body = envelope(key, items, page, page_req).get_json()
    body.update(extra)
    return jsonify(body)


def _matching(
    key: str, filt: Any, lister: Callable[..., Page[Any]], counter: Callable[..., int], shown: Callable[[Any], Any]
) -> Response:
    """One page of what `filt` names, newest first, and `matching`: how many it names in all."""
    page_req = page_request(max_size=MAX_PAGE_SIZE)
    with database().transaction() as session:
        page = lister(session, filt, page_req)
        matching = counter(session, filt)
    return _listing(key, [shown(row) for row in page.items], page, page_req, matching=matching)


def _since() -> datetime:
    """A counts endpoint's one parameter: since when (default: the last hour)."""
    _only("since")
    return admin.parse_moment(request.args.get("since") or "1h")


@blueprint.get("/deliveries")
def list_deliveries() -> Response:
    """Deliveries matching the filters (default: failed ones), newest first."""
    filt = filters.delivery_filter(request.args, ignore=PAGING)
    return _matching("deliveries", filt, admin.list_deliveries, admin.count_matching, present.delivery_json)


@blueprint.get("/deliveries/counts")
def counts() -> Response:
    """Deliveries by status, and failures by error code (with an example message), since a moment."""
    since = _since()
    with database().transaction() as session:
        by_status = admin.counts_by_status(session, since)
        by_code = admin.failures_by_error_code(session, since)
    return jsonify({"since": iso(since), "by_status": by_status, "by_error_code": [asdict(e) for e in by_code]})


@blueprint.get("/messages/<message_sid>/timeline")
def message_timeline(message_sid: str) -> Response:
    _only()
    with database().transaction() as session:
        story = admin.timeline(session, message_sid)
    return jsonify(present.timeline_json(story))


@blueprint.get("/webhooks")
def list_webhooks() -> Response:
    """Post-event webhook calls matching the filters (default: failed ones), newest first."""
    filt = filters.webhook_call_filter(request.args, ignore=PAGING)
    return _matching("webhooks", filt, hooks_admin.list_calls, hooks_admin.count_matching, present.webhook_call_json)


@blueprint.get("/webhooks/counts")
def webhook_counts() -> Response:
    """Webhook calls by status, and failed ones by error, since a moment."""
    since = _since()
    with database().transaction() as session:
        by_status = hooks_admin.counts_by_status(session, since)
        by_error = hooks_admin.failures_by_error(session, since)
    return jsonify({"since": iso(since), "by_status": by_status, "by_error": [asdict(e) for e in by_error]})


@blueprint.get("/webhooks/<call_sid>")
def webhook_call(call_sid: str) -> Response:
    """One call: where it went, its payload and every attempt."""
    _only()
    with database().transaction() as session:
        story = present.call_story_json(hooks_admin.call_story(session, call_sid))
    return jsonify(story)


@blueprint.get("/pushes")
def list_pushes() -> Response:
    """Push notifications matching the filters (default: failed ones), newest first."""
    filt = filters.push_filter(request.args, ignore=PAGING)
    return _matching("pushes", filt, push_admin.list_pushes, push_admin.count_matching, present.push_json)


@blueprint.get("/pushes/counts")
def push_counts() -> Response:
    """Pushes by status since a moment."""
    since = _since()
    with database().transaction() as session:
        by_status = push_admin.counts_by_status(session, since)
    return jsonify({"since": iso(since), "by_status": by_status})


def _body_values() -> MultiDict[str, str]:
    if request.is_json:
        return filters.values_from_json(jsontext.parse(request.get_data(), "The request body must be a JSON object"))
    return MultiDict(request.form)


@blueprint.post("/replay")
def replay() -> Response:
    """Replays a filter's failed deliveries (or, with `kind=webhook`, failed webhook calls; `kind=push`, failed
    pushes), or the SIDs given (DY: deliveries, WC: webhook calls, NT: pushes). Each goes out once, however often
    or concurrently this is called: only replayable rows move back to pending."""
    values = _body_values()
    kind = filters.kind_of(values)
    ignored = (*FORM_FIELDS, filters.KIND)
    named = filters.names_given(values, ignore=ignored)
    if not named:
        raise invalid("Name what to replay: filters (status, error_code, since, service, ...) or sids")
    by_sid = bool({"sid", "sids"} & set(named))
    default = {"default_statuses": kind.replay.replayable} if by_sid else {}
    target = filters.replayable(kind.parse(values, ignore=ignored, **default), kind.replay)
    if target is None:
        raise kind.replay.refusal()
    result = admin.replay(database().transaction, target, g.admin_user, kind=kind.replay)
    return jsonify({"matched": result.matched, "replayed": result.replayed, "skipped": result.skipped})


@blueprint.get("/unrouted")
def list_unrouted() -> Response:
    """Kept inbound messages: those no conversation took (`status=unrouted`, the default), routed since (`routed`),
    held for the application's pre-event webhook (`held`) or rejected by it (`rejected`)."""
    _only("status", *PAGING)
    status = request.args.get("status") or "unrouted"
    page_req = page_request(max_size=MAX_PAGE_SIZE)
    with database().transaction() as session:
        page = admin.list_unrouted(session, page_req, status)
        items = [present.unrouted_json(row) for row in page.items]
    return _listing("unrouted", items, page, page_req)


@blueprint.post("/unrouted/<int:unrouted_id>/reroute")
def reroute(unrouted_id: int) -> Response:
    """Routes a kept message again (once its sender was added to a conversation). `routed` says whether it
    went; `reason` says why not (already routed, or still no participant bound to the pair)."""
    _only()
    if unrouted_id > KEY_MAX:
        raise not_found(f"Unrouted message {unrouted_id} not found")
    result = admin.reroute(database().transaction, unrouted_id, g.admin_user)
    return jsonify(
        {"id": unrouted_id, "routed": result.routed, "message_sid": result.message_sid, "reason": result.reason}
    )


@blueprint.get("/audit")
def audit() -> Response:
    """Everything admins did (sign-ins, failed sign-ins, replays, re-routes), newest first."""
    _only(*PAGING)
    page_req = page_request(max_size=MAX_PAGE_SIZE)
    with database().transaction() as session:
        page = admin.audit_trail(session, page_req)
        items = [present.action_json(action) for action in page.items]
    return _listing("actions", items, page, page_req)

"""Users: the chat identities of a service."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import event_fields, users
from bridge.chat import presence
from bridge.hooks import pre
from bridge.models import User
from bridge.push import bindings
from webhooks.api.base import (
    Scope,
    created,
    dates,
    deleted,
    envelope,
    list_page,
    ok,
    params,
    scoped_route,
    session,
    settings,
)
from webhooks.health import quick_redis

blueprint = Blueprint("users", __name__)


def represent(scope: Scope, user: User, single: bool = True) -> dict[str, Any]:
    # Reachability is reported only on a single fetch, and only when the service tracks it (as Twilio).
    reachable = single and scope.service.reachability_enabled
    return {
        "sid": user.sid,
        "account_sid": settings().account_sid,
        "chat_service_sid": scope.service_sid,
        "role_sid": user.role_sid,
        "identity": user.identity,
        "friendly_name": user.friendly_name,
        "attributes": user.attributes,
        "is_online": presence.is_online(quick_redis(), user.sid) if reachable else None,
        "is_notifiable": bindings.is_notifiable(session(), scope.service, user.identity) if reachable else None,
        **dates(user),
        "url": scope.url(f"/Users/{user.sid}"),
        "links": {"user_conversations": scope.url(f"/Users/{user.sid}/Conversations")},
    }


@scoped_route(blueprint, "/Users", methods=["POST"])
def create_user(scope: Scope) -> tuple[Response, int]:
    form = params()
    user = users.create_user(
        session(),
        scope.service,
        form.required("Identity"),
        friendly_name=form.str("FriendlyName"),
        attributes_json=form.str("Attributes") or None,
        role_sid=form.str("RoleSid") or None,
    )
    return created(represent(scope, user))


@scoped_route(blueprint, "/Users", methods=["GET"])
def list_users(scope: Scope) -> Response:
    page, page_req = list_page(users.users_query(scope.service), User.id, max_size=50)
    return envelope("users", [represent(scope, u, single=False) for u in page.items], page, page_req)


@scoped_route(blueprint, "/Users/<sid>", methods=["GET"])
def fetch_user(scope: Scope, sid: str) -> Response:
    return ok(represent(scope, users.find_user(session(), scope.service, sid)))


def _before_updating(scope: Scope, sid: str) -> pre.PreEvent | None:
    user = users.find_user(session(), scope.service, sid)
    form = params()
    requested = {name: form.str(name) for name in ("FriendlyName", "Attributes", "RoleSid")}
    current = event_fields.user_fields(user, scope.service_sid)
    fields = event_fields.pre_event_fields(pre.USER_UPDATE, current, requested)
    return pre.prepare(session(), scope.service, pre.USER_UPDATE, fields)


@scoped_route(blueprint, "/Users/<sid>", methods=["POST"], pre_event=_before_updating)
def update_user(scope: Scope, sid: str) -> Response:
    form = params()
    user = users.update_user(
        session(),
        scope.service,
        users.find_user(session(), scope.service, sid),
        friendly_name=form.given("FriendlyName"),
        attributes_json=form.given("Attributes"),
        role_sid=form.given("RoleSid"),
    )
    return ok(represent(scope, user))


@scoped_route(blueprint, "/Users/<sid>", methods=["DELETE"])
def delete_user(scope: Scope, sid: str) -> tuple[str, int]:
    users.delete_user(session(), users.find_user(session(), scope.service, sid))
    return deleted()

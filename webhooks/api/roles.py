"""Roles, service-scoped and conversation-scoped."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import roles
from bridge.models import Role
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

blueprint = Blueprint("roles", __name__)


def represent(scope: Scope, role: Role) -> dict[str, Any]:
    return {
        "sid": role.sid,
        "account_sid": settings().account_sid,
        "chat_service_sid": scope.service_sid,
        "friendly_name": role.friendly_name,
        "type": role.type,
        "permissions": list(role.permissions),
        **dates(role),
        "url": scope.url(f"/Roles/{role.sid}"),
    }


@scoped_route(blueprint, "/Roles", methods=["POST"])
def create_role(scope: Scope) -> tuple[Response, int]:
    form = params()
    role = roles.create_role(
        session(),
        scope.service,
        form.required("FriendlyName"),
        form.required("Type"),
        form.list("Permission"),
    )
    return created(represent(scope, role))


@scoped_route(blueprint, "/Roles", methods=["GET"])
def list_roles(scope: Scope) -> Response:
    page, page_req = list_page(roles.roles_query(scope.service), Role.id, max_size=50)
    return envelope("roles", [represent(scope, r) for r in page.items], page, page_req)


@scoped_route(blueprint, "/Roles/<sid>", methods=["GET"])
def fetch_role(scope: Scope, sid: str) -> Response:
    return ok(represent(scope, roles.find_role(session(), scope.service, sid)))


@scoped_route(blueprint, "/Roles/<sid>", methods=["POST"])
def update_role(scope: Scope, sid: str) -> Response:
    role = roles.update_role(session(), roles.find_role(session(), scope.service, sid), params().list("Permission"))
    return ok(represent(scope, role))


@scoped_route(blueprint, "/Roles/<sid>", methods=["DELETE"])
def delete_role(scope: Scope, sid: str) -> tuple[str, int]:
    roles.delete_role(session(), scope.service, roles.find_role(session(), scope.service, sid))
    return deleted()

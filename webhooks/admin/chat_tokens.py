"""`/admin/chat`: an admin opens the web chat page (/chat) as an identity of a service.

The console mints the access token, as an application's backend would, and hands it to the page in the URL's
fragment, which browsers never send to a server: the page never sees the account's credentials, and the token is
in no log. Each token minted is in the audit trail.
"""

from __future__ import annotations

from flask import Response, g, redirect, render_template, request
from sqlalchemy import select

from bridge import access_tokens, accounts, admin, services
from bridge.errors import invalid
from bridge.models import ConversationService
from webhooks.admin.pages import blueprint
from webhooks.api.base import database, settings

CHAT_PAGE = "/chat"
TTL_CHOICES = [(3600, "1 hour"), (4 * 3600, "4 hours"), (12 * 3600, "12 hours"), (24 * 3600, "24 hours")]
IDENTITY_LIMIT = 256


@blueprint.get("/chat")
def chat() -> str:
    with database().transaction() as session:
        default_sid = accounts.default_service(session).sid
        choices = [
            (service.sid, service.friendly_name or service.sid)
            for service in session.scalars(select(ConversationService).order_by(ConversationService.id))
        ]
    return render_template(
        "admin/chat.html", nav="chat", services=choices, default_sid=default_sid, ttl_choices=TTL_CHOICES
    )


@blueprint.post("/chat")
def open_chat() -> Response:
    identity = (request.form.get("identity") or "").strip()
    if not identity or len(identity) > IDENTITY_LIMIT:
        raise invalid(f"An identity of 1 to {IDENTITY_LIMIT} characters is needed")
    ttl = request.form.get("ttl", type=int) or TTL_CHOICES[0][0]
    if ttl not in dict(TTL_CHOICES):
        raise invalid("Choose one of the offered lifetimes")
    with database().transaction() as session:
        chosen = request.form.get("service")
        service = services.find_service(session, chosen) if chosen else accounts.default_service(session)
        key = accounts.token_key(session)
        admin.record_action(
            session,
            g.admin_user,
            "chat-token",
            f"opened the web chat as {identity}",
            {"identity": identity, "service_sid": service.sid, "ttl_seconds": ttl},
        )
        key_sid, secret, service_sid = key.sid, key.secret, service.sid
    token = access_tokens.mint(settings().account_sid, key_sid, secret, identity, service_sid, ttl)
    return redirect(f"{CHAT_PAGE}#token={token}", code=303)

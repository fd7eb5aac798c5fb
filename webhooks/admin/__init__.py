"""The admin faces of `bridge.admin`: a JSON API under `/admin/api/` and a web console under `/admin`.

Admins sign in with their own credentials (BRIDGE_ADMIN_USERNAME / BRIDGE_ADMIN_PASSWORD), never with the REST
API's account SID and token. The console keeps a signed session cookie scoped to `/admin`; scripts use HTTP Basic
with the admin credentials. Every change made with the cookie carries a CSRF token; failed sign-ins are rate
limited (Flask-Limiter on the bridge's Redis) and, like every admin action, recorded in the audit trail.

Modules: `auth` (credentials, session, sign-in/out), `csrf`, `ratelimit`, `filters` (request -> DeliveryFilter),
`present` (what templates and JSON show), `chart` (the dashboard's SVG), `pages` (the console), `chat_tokens` (opening
the web chat as an identity), `api` (JSON).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, request

from bridge.config import Settings, derived_secret
from webhooks.admin import (
    api,
    auth,
    chat_tokens,  # noqa: F401 - adds /admin/chat to the console's blueprint
    csrf,
    pages,
    ratelimit,
)

# The console runs only its own static script and styles, is never framed (its buttons replay deliveries), and
# its pages, which show phone numbers, are not kept in caches.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask, settings: Settings) -> None:
    """Session cookie, CSRF, the sign-in rate limit and the admin blueprints, on one app."""
    app.config.update(
        SECRET_KEY=settings.secret_key or derived_secret(settings.auth_token, "admin-session"),
        # The cookie belongs to the console alone: never sent to the REST API or the carrier webhooks.
        SESSION_COOKIE_NAME="bridge_admin",
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=auth.MAX_SESSION_SECONDS),
    )
    csrf.init_app(app)
    ratelimit.init_app(app, settings, auth.blueprint, api.blueprint)
    for blueprint in (auth.blueprint, pages.blueprint, api.blueprint):
        app.register_blueprint(blueprint)

    @app.after_request
    def _admin_headers(response: Response) -> Response:
        if request.path == "/admin" or request.path.startswith("/admin/"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if request.endpoint != "admin.static":
                response.headers["Cache-Control"] = "no-store"
        return response

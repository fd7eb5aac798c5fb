"""Failed admin sign-ins are rate limited per client address and username, on the bridge's Redis.

One shared counter covers the sign-in form and HTTP Basic on the JSON API, so a script cannot guess faster than
the form allows. Only refused credentials count (`deduct_when`); once the limit is reached, every attempt for
that address and username is answered 429 before the password is even looked at, right or wrong, until the
window has passed. BRIDGE_ADMIN_SIGN_IN_LIMIT sets the limit (default `5 per minute`).
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse as parse_limit

from bridge.config import Settings

DEFAULT_LIMIT = "5 per minute"
SCOPE = "admin-sign-in"
EXTENSION = "bridge.admin_limiter"
SIGN_IN_ENDPOINT = "admin_auth.sign_in"
TOO_MANY = "Too many failed sign-in attempts for this user from your address; try again in {seconds} s."
_REFUSED = "bridge_admin_credentials_refused"

__all__ = ["TOO_MANY", "RateLimitExceeded", "init_app", "note_refused_credentials", "retry_after_seconds"]


def storage_uri(settings: Settings) -> str:
    """The Redis the workers use (REDIS_URL, or the embedded server's socket), in the `limits` library's terms."""
    from workers.celery_app import redis_url

    url = redis_url(settings)
    return "redis+unix://" + url[len("unix://") :] if url.startswith("unix://") else url


def _offered_username() -> str:
    if request.authorization is not None:
        return request.authorization.username or ""
    return request.form.get("username", "")


def _key() -> str:
    # Case-folded and cut short: the key names whom a guesser is after, it is not a record of what was typed.
    return f"{get_remote_address()}|{_offered_username().strip().lower()[:64]}"


def _offers_credentials() -> bool:
    if request.authorization is not None:
        return True
    return request.method == "POST" and request.endpoint == SIGN_IN_ENDPOINT


def note_refused_credentials() -> None:
    """Called by the authentication code: this request's credentials were wrong; count it against the limit."""
    g.setdefault(_REFUSED, True)


def init_app(app: Flask, settings: Settings, *credential_blueprints: Blueprint) -> None:
    """A limiter for `app`, and the shared failed-sign-in limit on every route of `credential_blueprints`
    (each route that can receive credentials counts; the rest are exempt)."""
    limit = settings.extra.get("BRIDGE_ADMIN_SIGN_IN_LIMIT") or DEFAULT_LIMIT
    parse_limit(limit)  # a malformed limit stops the start, not the first sign-in
    limiter = Limiter(
        key_func=_key,
        storage_uri=storage_uri(settings),
        strategy="moving-window",
        key_prefix="bridge",
        # Redis down: count in this process's memory rather than refuse every admin or admit every guess.
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    shared = limiter.shared_limit(
        limit,
        scope=SCOPE,
        exempt_when=lambda: not _offers_credentials(),
        deduct_when=lambda _response: bool(g.get(_REFUSED)),
    )
    for blueprint in credential_blueprints:
        shared(blueprint)


def retry_after_seconds() -> int:
    """Seconds until the breached window lets this client try again."""
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    current = limiter.current_limit if limiter is not None else None
    if current is None:
        return 60
    return max(1, round(current.reset_at - time.time()))

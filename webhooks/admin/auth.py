"""Who the admin is: the admin credentials (never the REST API's), the console's session, sign-in and sign-out.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind https, path `/admin`). It names the
admin, when they signed in (sessions end after 12 hours, however active) and a fingerprint of the credentials,
so changing BRIDGE_ADMIN_PASSWORD signs everyone out. Sign-ins, failed sign-ins and sign-outs go to the audit
trail; failed ones also count against the sign-in rate limit.
"""

from __future__ import annotations

import hmac
import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, session, url_for

from bridge import admin, errors
from bridge.config import derived_secret
from bridge.errors import BridgeError
from webhooks.admin import csrf, ratelimit
from webhooks.api.base import database, settings

blueprint = Blueprint("admin_auth", __name__, url_prefix="/admin")

SESSION_USER, SESSION_SINCE, SESSION_FINGERPRINT = "admin_user", "admin_since", "admin_fingerprint"
MAX_SESSION_SECONDS = 12 * 3600
HOME = "/admin"
FORBIDDEN = 20403
CROSS_SITE = ("cross-site", "same-site")  # Sec-Fetch-Site values of a request another site's page started
# Compared against when no admin password is configured, so the comparison still runs (and always fails).
_NO_PASSWORD = "\x00no admin password configured\x00"


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def check_credentials(username: str, password: str) -> bool:
    """Constant-time, and both halves always compared: no early exit tells which one was wrong."""
    config = settings()
    username_ok = _equal(username, config.admin_username)
    password_ok = _equal(password, config.admin_password or _NO_PASSWORD)
    return username_ok and password_ok and bool(config.admin_password)


def _fingerprint() -> str:
    config = settings()
    credentials = f"admin-session\n{config.admin_username}\n{config.admin_password}"
    return derived_secret(str(current_app.secret_key), credentials)


def signed_in_admin() -> str | None:
    """The admin this browser session belongs to, or None (no session, too old, or the credentials changed)."""
    user, since, fingerprint = session.get(SESSION_USER), session.get(SESSION_SINCE), session.get(SESSION_FINGERPRINT)
    if not (isinstance(user, str) and isinstance(since, int | float) and isinstance(fingerprint, str)):
        return None
    if not 0 <= time.time() - since <= MAX_SESSION_SECONDS:
        return None
    if not _equal(fingerprint, _fingerprint()):
        return None
    return user


def record(actor: str, action: str, summary: str, **details: Any) -> None:
    """One line in the audit trail, in its own transaction (a refused request has no other)."""
    with database().transaction() as db_session:
        admin.record_action(db_session, actor[:128], action, summary, details)


def _client() -> str:
    return request.remote_addr or "unknown"


def _refuse(username: str, via: str) -> None:
    ratelimit.note_refused_credentials()
    shown = username.strip()[:64] or "(no username)"
    record(shown, "sign-in-failed", f"failed sign-in as {shown!r} from {_client()} ({via})", address=_client(), via=via)


# -- the JSON API: HTTP Basic for scripts, or the console's session ---------------------------------------------


def authenticate_api() -> str:
    """The admin behind an API request. Basic credentials win when sent (scripts: no CSRF token, but a browser
    that says it comes from another site is refused); otherwise the session cookie, and then CSRF applies."""
    credentials = request.authorization
    if credentials is not None:
        username = credentials.username or ""
        if credentials.type != "basic" or not check_credentials(username, credentials.password or ""):
            _refuse(username, "api")
            raise BridgeError(errors.AUTHENTICATE, "Authenticate with the admin username and password", 401)
        if request.method in csrf.UNSAFE_METHODS and request.headers.get("Sec-Fetch-Site") in CROSS_SITE:
            # A browser replaying cached Basic credentials for a page on another site: classic CSRF.
            raise BridgeError(FORBIDDEN, "Cross-site requests cannot change anything here", 403)
        return username
    user = signed_in_admin()
    if user is None:
        raise BridgeError(
            errors.AUTHENTICATE,
            "Authenticate: HTTP Basic with the admin username and password, or sign in at /admin/sign-in",
            401,
        )
    csrf.protect()
    return user


# -- the console ----------------------------------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only somewhere inside the console (no open redirect)."""
    if target and target.startswith(HOME) and all(c.isprintable() and c != "\\" for c in target):
        return target
    return HOME


def sign_in_redirect() -> Response:
    here = request.full_path if request.query_string else request.path
    return redirect(url_for("admin_auth.sign_in") + "?" + urlencode({"next": here}))


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if signed_in_admin() is not None:
            return redirect(target)
        return render_template("admin/sign_in.html", next=target, username="")
    csrf.protect()
    username, password = request.form.get("username", ""), request.form.get("password", "")
    if not check_credentials(username, password):
        _refuse(username, "console")
        error = "That username and password do not match the admin credentials."
        return render_template("admin/sign_in.html", next=target, username=username, error=error), 401
    session.clear()  # a fresh session (and CSRF token) for the signed-in admin: no fixation
    session.permanent = True
    session.update({SESSION_USER: username, SESSION_SINCE: int(time.time()), SESSION_FINGERPRINT: _fingerprint()})
    record(username, "sign-in", f"signed in from {_client()}", address=_client(), via="console")
    return redirect(target)


@blueprint.post("/sign-out")
def sign_out() -> Response:
    user = signed_in_admin()
    if user is not None:
        csrf.protect()
        record(user, "sign-out", f"signed out from {_client()}", address=_client(), via="console")
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("admin_auth.sign_in"))


@blueprint.errorhandler(csrf.CSRFError)
def _expired_form(_error: csrf.CSRFError) -> tuple[str, int]:
    message = "The sign-in form had expired. Please try again."
    return render_template("admin/sign_in.html", next=safe_next(request.values.get("next")), error=message), 400


@blueprint.errorhandler(ratelimit.RateLimitExceeded)
def _too_many(_error: ratelimit.RateLimitExceeded) -> Response:
    seconds = ratelimit.retry_after_seconds()
    page = render_template(
        "admin/sign_in.html",
        next=safe_next(request.values.get("next")),
        username=request.form.get("username", ""),
        error=ratelimit.TOO_MANY.format(seconds=seconds),
    )
    return Response(page, status=429, headers={"Retry-After": str(seconds)})

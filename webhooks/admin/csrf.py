"""CSRF protection for what an admin changes with the session cookie, and only for that.

Flask-WTF's check is off by default (`WTF_CSRF_CHECK_DEFAULT = False`): the Twilio-compatible API and the carrier
webhooks are called by programs with credentials of their own and must stay as Twilio's are. The admin blueprints
call `protect()` on their unsafe methods when the caller is a browser session. Forms carry the token in
`csrf_token`; the console's JavaScript sends it in `X-CSRFToken`.
"""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFError, CSRFProtect

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

csrf = CSRFProtect()

__all__ = ["UNSAFE_METHODS", "CSRFError", "init_app", "protect"]


def init_app(app: Flask) -> None:
    app.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the admin's session (12 hours); a console tab left open for an hour
        # must not turn every button into an error.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_METHODS=sorted(UNSAFE_METHODS),
    )
    csrf.init_app(app)


def protect() -> None:
    """Refuses (CSRFError, a 400) an unsafe request whose token is missing or does not match the session's."""
    if request.method in UNSAFE_METHODS:
        csrf.protect()

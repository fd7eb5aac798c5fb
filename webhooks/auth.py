"""HTTP Basic for the REST API: the account SID with its auth token, or an API key SID with its secret."""

from __future__ import annotations

import hmac

from flask import request

from bridge import accounts, errors
from bridge.errors import BridgeError
from webhooks.api.base import database, settings

# Compared against when the key is unknown, so a miss costs what a hit costs.
_DUMMY_SECRET = "x" * 43


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authenticated() -> bool:
    credentials = request.authorization
    if credentials is None or credentials.type != "basic":
        return False
    username, password = credentials.username or "", credentials.password or ""
    config = settings()
    if username.startswith("SK"):
        with database().transaction() as session:
            secret = accounts.api_key_secret(session, username)
        return _equal(password, secret or _DUMMY_SECRET) and secret is not None
    # Both comparisons always run: no early exit that tells which half was wrong.
    sid_ok = _equal(username, config.account_sid)
    token_ok = _equal(password, config.auth_token)
    return sid_ok and token_ok


def require_api_credentials() -> None:
    if not authenticated():
        raise BridgeError(errors.AUTHENTICATE, "Authenticate", 401)

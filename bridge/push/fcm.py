"""Firebase Cloud Messaging, HTTP v1: an OAuth2 access token from the credential's service-account key, then
`POST {base}/v1/projects/{project_id}/messages:send`.

The token comes from google-auth's service-account flow (a JWT signed with the key, exchanged at the key's own
`token_uri`), and is kept per credential until it nears expiry. Called only from workers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import httpx
from google.oauth2 import service_account

from bridge import jsontext
from bridge.push.outbox import Result
from bridge.push.payloads import Push, fcm_message
from bridge.timeutil import retry_after_seconds

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_URL = "https://fcm.googleapis.com"
TOKEN_TIMEOUT = 10.0  # seconds for the token endpoint's answer

# FCM's error codes (the FcmError detail's errorCode, else the status) that say the token is dead.
_DEAD_TOKEN = {"UNREGISTERED", "NOT_FOUND"}


class CredentialProblem(Exception):
    """The credential cannot be used: no key, or one that is not a service account's JSON."""


class TokenCache:
    """Access tokens per credential (by a digest of its key, so a changed key gets a new token), refreshed when
    google-auth says they are no longer valid (it allows for clock skew)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, service_account.Credentials] = {}

    def credentials(self, secret: str | None) -> tuple[service_account.Credentials, str]:
        """The google-auth credentials for this key, and its project."""
        info = _service_account_info(secret)
        digest = hashlib.sha256((secret or "").encode()).hexdigest()
        with self._lock:
            found = self._by_key.get(digest)
            if found is None:
                try:
                    found = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
                except (ValueError, KeyError) as error:
                    raise CredentialProblem(f"the FCM credential's key is not usable: {error}") from None
                self._by_key[digest] = found
        return found, str(info["project_id"])

    def token(self, secret: str | None) -> tuple[str, str]:
        """A valid access token and the project it is for; raises google-auth's errors when the grant fails."""
        credentials, project = self.credentials(secret)
        with self._lock:
            if not credentials.valid:
                # google-auth waits 120 s for the token endpoint by default: far longer than a push is worth.
                request = functools.partial(google.auth.transport.requests.Request(), timeout=TOKEN_TIMEOUT)
                credentials.refresh(request)
            return str(credentials.token), project

    def forget(self, secret: str | None) -> None:
        """Drops a token FCM refused (401), so the next attempt asks for a new one."""
        digest = hashlib.sha256((secret or "").encode()).hexdigest()
        with self._lock:
            self._by_key.pop(digest, None)


def _service_account_info(secret: str | None) -> dict[str, Any]:
    if not secret:
        raise CredentialProblem("the FCM credential has no Secret (the service account's JSON key)")
    try:
        info = json.loads(secret)
    except ValueError:
        raise CredentialProblem(
            "the FCM credential's Secret is not JSON (it must be a service account's key)"
        ) from None
    if not isinstance(info, dict) or not info.get("project_id") or not info.get("client_email"):
        raise CredentialProblem("the FCM credential's Secret has no project_id or client_email")
    return info


def send(
    http: httpx.Client, tokens: TokenCache, secret: str | None, push: Push, device_token: str, base_url: str | None
) -> Result:
    """One push to one device. Never raises for what FCM or the network answers: it becomes the Result."""
    try:
        access_token, project = tokens.token(secret)
    except CredentialProblem as problem:
        return Result("failed", None, str(problem))
    except google.auth.exceptions.RefreshError as error:
        # A refused grant (a revoked key) will be refused again; a token endpoint in trouble may not.
        retryable = bool(getattr(error, "retryable", False))
        return Result("retry" if retryable else "failed", None, f"access token refused: {_first_line(error)}")
    except google.auth.exceptions.TransportError as error:
        return Result("retry", None, f"access token not obtained: {_first_line(error)}")
    url = f"{(base_url or DEFAULT_URL).rstrip('/')}/v1/projects/{project}/messages:send"
    try:
        reply = http.post(
            url, json=fcm_message(push, device_token), headers={"Authorization": f"Bearer {access_token}"}
        )
    except httpx.HTTPError as error:
        return Result("retry", None, f"FCM not reached: {type(error).__name__}")
    if reply.status_code == 200:
        return Result.sent()
    return _refusal(reply, tokens, secret)


def _refusal(reply: httpx.Response, tokens: TokenCache, secret: str | None) -> Result:
    code, message, token_field = _error_of(reply)
    described = f"{code}: {message}" if message else code
    retry_after = retry_after_seconds(reply.headers.get("Retry-After"))
    if code in _DEAD_TOKEN or reply.status_code == 404:
        return Result("unregistered", reply.status_code, described)
    if code == "INVALID_ARGUMENT" and token_field:
        return Result("unregistered", reply.status_code, described)
    if reply.status_code == 401:
        tokens.forget(secret)  # an access token FCM no longer takes: the next attempt gets a new one
        return Result("retry", reply.status_code, described)
    if reply.status_code == 429 or reply.status_code >= 500:
        return Result("retry", reply.status_code, described, retry_after)
    return Result("failed", reply.status_code, described)


def _error_of(reply: httpx.Response) -> tuple[str, str, bool]:
    """FCM's error: its code (FcmError.errorCode, else the status), its message, and whether it is about the
    registration token (a BadRequest field violation on `message.token`)."""
    try:
        body = jsontext.loads(reply.text)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"HTTP {reply.status_code}", "", False
    code, about_token = str(error.get("status") or f"HTTP {reply.status_code}"), False
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("errorCode"):
            code = str(detail["errorCode"])
        for violation in detail.get("fieldViolations") or []:
            if isinstance(violation, dict) and violation.get("field") == "message.token":
                about_token = True
    message = str(error.get("message") or "")[:200]
    if "registration token" in message.lower():
        about_token = True
    return code, message, about_token


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]

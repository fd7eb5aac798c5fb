"""One webhook request, as Twilio makes it: form-encoded POST (or a GET with the fields in the query string),
signed with `X-Twilio-Signature` using the account's auth token, so that the receiver's
`twilio.request_validator.RequestValidator` accepts it; `I-Twilio-Idempotency-Token` names the event and
target, the same on every retry. No redirects are followed (Twilio follows none either)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3
from twilio.request_validator import RequestValidator

USER_AGENT = "TwilioProxy/1.1"
MAX_BODY = 64 * 1024  # of an answer: a pre-event webhook's modifications fit many times over

# One pool per process, shared by its threads (urllib3's PoolManager is thread-safe).
_pool = urllib3.PoolManager(num_pools=64, maxsize=8, retries=False)


@dataclass(frozen=True)
class Reply:
    status: int | None  # None: no answer (timeout, refused, reset)
    body: bytes
    duration_ms: int
    error: str | None = None


def signed_request(
    url: str, method: str, fields: dict[str, str], auth_token: str
) -> tuple[str, bytes | None, dict[str, str]]:
    """The URL to call, the body and the headers of a signed webhook request."""
    validator = RequestValidator(auth_token)
    if method == "GET":
        parts = urlsplit(url)
        query = "&".join(part for part in (parts.query, urlencode(sorted(fields.items()))) if part)
        full = urlunsplit(parts._replace(query=query))
        return full, None, {"X-Twilio-Signature": validator.compute_signature(full, {})}
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": validator.compute_signature(url, fields),
    }
    return url, urlencode(fields).encode(), headers


def call(
    url: str,
    method: str,
    fields: dict[str, str],
    *,
    auth_token: str,
    idempotency_token: str | None,
    timeout: float,
) -> Reply:
    target, body, headers = signed_request(url, method, fields, auth_token)
    headers["User-Agent"] = USER_AGENT
    if idempotency_token:
        headers["I-Twilio-Idempotency-Token"] = idempotency_token
    clock = time.monotonic()
    try:
        response = _pool.request(
            method,
            target,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(total=timeout),
            redirect=False,
            preload_content=False,
        )
        try:
            data = response.read(MAX_BODY, decode_content=True)
        finally:
            response.release_conn()
    except urllib3.exceptions.TimeoutError:
        return Reply(None, b"", _elapsed(clock), f"no answer within {timeout:g} s")
    except urllib3.exceptions.HTTPError as error:
        return Reply(None, b"", _elapsed(clock), f"could not connect: {type(error).__name__}")
    return Reply(response.status, data or b"", _elapsed(clock))


def _elapsed(clock: float) -> int:
    return int((time.monotonic() - clock) * 1000)

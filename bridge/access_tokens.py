"""Twilio access tokens for chat clients: minted as the application's backend mints them (twilio's
`AccessToken` with a `ChatGrant`), verified as Twilio verifies them.

A token is a JWT signed HS256 with an API key's secret: header `cty: twilio-fpa;v=1`, `iss` the key's SID, `sub`
the account, `grants.identity` and `grants.chat.service_sid`. Verification is PyJWT's (signature, `exp`, `nbf`),
never `twilio.jwt.Jwt.from_jwt`, which skips the signature when the key it is given is empty. Refusals carry
Twilio's codes, 20101-20107, with HTTP 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy.orm import Session
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant

from bridge import accounts, services
from bridge.errors import BridgeError
from bridge.models import ConversationService

INVALID_TOKEN = 20101
INVALID_HEADER = 20102
INVALID_ISSUER_OR_SUBJECT = 20103
EXPIRED = 20104  # also: an expiry Twilio would not accept (more than 24 h after the token starts)
NOT_YET_VALID = 20105
INVALID_GRANTS = 20106
INVALID_SIGNATURE = 20107

CONTENT_TYPE = "twilio-fpa;v=1"
MAX_LIFETIME = timedelta(hours=24)  # Twilio's ceiling for an access token's lifetime
DEFAULT_TTL_SECONDS = 3600  # twilio's AccessToken default
IDENTITY_LIMIT = 256
LEEWAY_SECONDS = 5  # clocks of the application's backend and the bridge differ a little


@dataclass(frozen=True)
class ChatClient:
    """Who a verified token speaks for."""

    identity: str
    service_sid: str
    key_sid: str
    expires_at: datetime
    push_credential_sid: str | None = None


def refused(code: int, message: str) -> BridgeError:
    return BridgeError(code, message, 401)


def mint(
    account_sid: str,
    key_sid: str,
    secret: str,
    identity: str,
    service_sid: str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    push_credential_sid: str | None = None,
) -> str:
    """A token as an application's backend makes one with twilio's helper library (`push_credential_sid`: the
    credential pushes to this client's devices go out with)."""
    token = AccessToken(account_sid, key_sid, secret, identity=identity, ttl=ttl_seconds)
    token.add_grant(ChatGrant(service_sid=service_sid, push_credential_sid=push_credential_sid))
    return token.to_jwt()


def verify(session: Session, token: str, account_sid: str, now: datetime | None = None) -> ChatClient:
    """The chat client a token speaks for, or a BridgeError with Twilio's code (HTTP 401)."""
    _check_header(token)
    claims = _unverified_claims(token)
    key_sid = claims.get("iss")
    key_sid = key_sid if isinstance(key_sid, str) else ""
    secret = accounts.api_key_secret(session, key_sid)  # None for a key that does not exist (or was revoked)
    if secret is None or claims.get("sub") != account_sid:
        raise refused(INVALID_ISSUER_OR_SUBJECT, "Invalid Access Token issuer/subject")
    verified, expires_at = _verified_claims(token, secret, now)
    grants = verified.get("grants")
    if not isinstance(grants, dict):
        raise refused(INVALID_GRANTS, "Invalid Access Token grants: none")
    identity = grants.get("identity")
    if not isinstance(identity, str) or not identity.strip() or len(identity) > IDENTITY_LIMIT:
        raise refused(INVALID_GRANTS, "Invalid Access Token grants: no identity")
    if "\x00" in identity:  # no identity holds one (the REST API refuses them) and PostgreSQL cannot store one
        raise refused(INVALID_GRANTS, "Invalid Access Token grants: the identity holds a NUL character")
    chat = grants.get("chat")
    if not isinstance(chat, dict):
        raise refused(INVALID_GRANTS, "Invalid Access Token grants: no chat grant")
    service = _service(session, chat.get("service_sid"))
    push = chat.get("push_credential_sid")
    return ChatClient(
        identity=identity,
        service_sid=service.sid,
        key_sid=key_sid,
        expires_at=expires_at,
        push_credential_sid=push if isinstance(push, str) else None,
    )


def _check_header(token: str) -> None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as error:
        raise refused(INVALID_TOKEN, "Invalid Access Token: not a JWT") from error
    if header.get("alg") != "HS256" or header.get("cty") != CONTENT_TYPE or header.get("typ", "JWT") != "JWT":
        raise refused(INVALID_HEADER, "Invalid Access Token header: expected HS256, typ JWT, cty twilio-fpa;v=1")


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.DecodeError as error:
        raise refused(INVALID_TOKEN, "Invalid Access Token: unreadable payload") from error
    if not isinstance(claims, dict):
        raise refused(INVALID_TOKEN, "Invalid Access Token: the payload is not an object")
    return claims


def _verified_claims(token: str, secret: str, now: datetime | None) -> tuple[dict[str, Any], datetime]:
    moment = now or datetime.now(UTC)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "iss", "sub"], "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError as error:
        raise refused(INVALID_SIGNATURE, "Invalid Access Token signature") from error
    except jwt.MissingRequiredClaimError as error:
        code = EXPIRED if error.claim == "exp" else INVALID_ISSUER_OR_SUBJECT
        raise refused(code, f"Invalid Access Token: no {error.claim}") from error
    except jwt.InvalidTokenError as error:
        raise refused(INVALID_TOKEN, "Invalid Access Token") from error
    # Times checked here rather than by PyJWT, against `now`, so that each gets its own code.
    expires, starts = _moment(claims.get("exp")), _moment(claims.get("nbf", claims.get("iat")))
    if expires is None or (starts is not None and expires - starts > MAX_LIFETIME):
        raise refused(EXPIRED, "Access Token expiration date invalid (at most 24 hours after it starts)")
    leeway = timedelta(seconds=LEEWAY_SECONDS)
    if expires + leeway <= moment:
        raise refused(EXPIRED, "Access Token expired")
    if starts is not None and starts - leeway > moment:
        raise refused(NOT_YET_VALID, "Access Token not yet valid")
    return claims, expires


def _moment(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _service(session: Session, service_sid: object) -> ConversationService:
    """The grant's Conversation Service; with none named, the account's default one (as Twilio's default)."""
    if service_sid is None:
        return accounts.default_service(session)
    try:
        return services.find_service(session, service_sid if isinstance(service_sid, str) else "")
    except BridgeError:
        raise refused(INVALID_GRANTS, "Invalid Access Token grants: no such Conversation Service") from None

"""Push credentials (`CR`, `/v1/Credentials`): the account's keys for FCM, GCM and APNs.

What each type needs (Twilio's parameters): `apn` a PEM certificate and private key (`Sandbox` picks APNs'
development environment); `gcm` a legacy `ApiKey`; `fcm` the Firebase service account's JSON key in `Secret`,
which is what FCM's HTTP v1 API signs its OAuth tokens with (Twilio's console takes the same file for FCM v1).
Keys and secrets are stored for the workers to use and never returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bridge import jsontext
from bridge.errors import invalid, not_found
from bridge.models import PushCredential
from bridge.sids import is_sid, new_sid
from bridge.validation import UNSET, text

APN, GCM, FCM = "apn", "gcm", "fcm"
TYPES = (APN, GCM, FCM)
FRIENDLY_NAME_LIMIT = 64
SECRET_LIMIT = 64 * 1024  # a service-account key is ~2.3 KB, a certificate chain a few KB
SERVICE_ACCOUNT_FIELDS = ("project_id", "client_email", "private_key")
# Twilio's "Invalid credential content: the credential is malformed": a key that is there but cannot be one.
# A missing parameter or an unknown Type is the platform's 20001.
INVALID_CREDENTIAL_CONTENT = 52005


@dataclass(frozen=True)
class CredentialChanges:
    """The form's values; UNSET where a parameter was not sent."""

    type: str | object = UNSET
    friendly_name: str | object = UNSET
    certificate: str | object = UNSET
    private_key: str | object = UNSET
    sandbox: bool | object = UNSET
    api_key: str | object = UNSET
    secret: str | object = UNSET


def _type(raw: str) -> str:
    # Twilio's spec examples send `GcM` and `FcM`: the type is case-insensitive.
    value = raw.strip().lower()
    if value not in TYPES:
        raise invalid("Type must be one of apn, gcm, fcm")
    return value


def _pem(raw: str, name: str, marker: str) -> str:
    value = text(raw, name, SECRET_LIMIT, INVALID_CREDENTIAL_CONTENT).strip()
    if not (value.startswith("-----BEGIN ") and marker in value and "-----END " in value):
        raise invalid(f"{name} must be a PEM block (-----BEGIN {marker}-----)", INVALID_CREDENTIAL_CONTENT)
    return value


def service_account(raw: str) -> dict[str, str]:
    """The Firebase service-account key in an FCM credential's Secret: JSON naming the project, the account
    and its private key (what an HTTP v1 send needs)."""
    content = text(raw, "Secret", SECRET_LIMIT, INVALID_CREDENTIAL_CONTENT)
    not_a_key = "Secret must be the Firebase service account's JSON key (an object)"
    parsed = jsontext.parse(content, not_a_key, INVALID_CREDENTIAL_CONTENT)
    if not isinstance(parsed, dict):
        raise invalid(not_a_key, INVALID_CREDENTIAL_CONTENT)
    missing = [field for field in SERVICE_ACCOUNT_FIELDS if not isinstance(parsed.get(field), str) or not parsed[field]]
    if missing:
        raise invalid(
            f"Secret (the Firebase service account's JSON key) is missing {', '.join(missing)}",
            INVALID_CREDENTIAL_CONTENT,
        )
    if "PRIVATE KEY-----" not in parsed["private_key"]:
        raise invalid("Secret's private_key must be a PEM private key", INVALID_CREDENTIAL_CONTENT)
    return {field: parsed[field] for field in SERVICE_ACCOUNT_FIELDS}


def _apply(credential: PushCredential, changes: CredentialChanges) -> None:
    if isinstance(changes.type, str):
        credential.type = _type(changes.type)
    if isinstance(changes.friendly_name, str):
        credential.friendly_name = text(changes.friendly_name, "FriendlyName", FRIENDLY_NAME_LIMIT) or None
    if isinstance(changes.certificate, str):
        credential.certificate = _pem(changes.certificate, "Certificate", "CERTIFICATE")
    if isinstance(changes.private_key, str):
        credential.private_key = _pem(changes.private_key, "PrivateKey", "PRIVATE KEY")
    if isinstance(changes.sandbox, bool):
        credential.sandbox = changes.sandbox
    if isinstance(changes.api_key, str):
        credential.api_key = text(changes.api_key, "ApiKey", SECRET_LIMIT) or None
    if isinstance(changes.secret, str):
        credential.secret = changes.secret or None
    _check_complete(credential)


def _check_complete(credential: PushCredential) -> None:
    """A credential must hold what its type sends with: checked on create and after every update."""
    if credential.type == APN:
        if not credential.certificate or not credential.private_key:
            raise invalid("An apn credential needs a Certificate and a PrivateKey")
    elif credential.type == GCM:
        if not credential.api_key:
            raise invalid("A gcm credential needs an ApiKey")
    elif credential.type == FCM:
        if not credential.secret:
            raise invalid("An fcm credential needs a Secret: the Firebase service account's JSON key")
        service_account(credential.secret)


def create_credential(session: Session, changes: CredentialChanges) -> PushCredential:
    if not isinstance(changes.type, str) or not changes.type:
        raise invalid("Missing required parameter Type")
    credential = PushCredential(sid=new_sid("CR"), type=_type(changes.type), sandbox=False)
    _apply(credential, changes)
    session.add(credential)
    session.flush()
    return credential


def update_credential(session: Session, credential: PushCredential, changes: CredentialChanges) -> PushCredential:
    _apply(credential, changes)
    session.flush()
    return credential


def find_credential(session: Session, sid: str) -> PushCredential:
    found = session.scalar(select(PushCredential).where(PushCredential.sid == sid)) if is_sid(sid, "CR") else None
    if found is None:
        raise not_found(f"Credential {sid} not found")
    return found


def credential_by_sid(session: Session, sid: str | None) -> PushCredential | None:
    """The credential a binding names, if it still exists (a deleted credential leaves its bindings unusable)."""
    if not is_sid(sid, "CR"):
        return None
    return session.scalar(select(PushCredential).where(PushCredential.sid == sid))


def delete_credential(session: Session, credential: PushCredential) -> None:
    session.delete(credential)
    session.flush()


def credentials_query() -> Select[tuple[PushCredential]]:
    return select(PushCredential)

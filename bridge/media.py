"""Media (`ME`): files uploaded through the MCS-like API or received from a carrier, and their public URLs.

Uploaded media is `ready` at once. Inbound carrier media starts `pending` with the carrier's URL (never shown to
anyone), becomes `ready` once a worker has fetched and stored it, or `failed`.

Public URLs (`{PUBLIC_BASE_URL}/media/{sid}/{token}`) are what carriers fetch MMS media from and what SMS
recipients get as links, so they work without credentials. The token is an HMAC of the SID under a key derived
from the bridge's auth token: it cannot be guessed or forged, it never expires (a link in a text message must
keep working), and rotating `BRIDGE_AUTH_TOKEN` invalidates every public URL issued before.

Temporary URLs are the same route with a token `{expires}.{hmac}`: an HMAC of the SID and the expiry time (Unix
seconds) under a key of their own. Chat clients get them from the media service (`content_direct_temporary`),
as Twilio's MCS hands out short-lived CDN URLs; after `TEMPORARY_URL_SECONDS` they are refused.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bridge.config import Settings
from bridge.errors import INVALID_PARAMETER, BridgeError, invalid, not_found
from bridge.media_storage import MediaStore
from bridge.models import ConversationService, Media, Message
from bridge.sids import is_sid, new_sid
from bridge.timeutil import utcnow
from bridge.validation import text

PENDING = "pending"
READY = "ready"
FAILED = "failed"

CATEGORY = "media"
SYSTEM_AUTHOR = "system"  # what Twilio shows for media uploaded with account credentials
DEFAULT_CONTENT_TYPE = "application/octet-stream"
FORBIDDEN = 20403
FILENAME_LIMIT = 256
CONTENT_TYPE_LIMIT = 128  # the column's width
MAX_MEDIA_PER_MESSAGE = 10  # MMS carries at most 10 files
MAX_MESSAGE_MEDIA_BYTES = 16 * 1024 * 1024  # all of a chat message's files together (the SDK's Configuration)
TEMPORARY_URL_SECONDS = 300  # how long a temporary content URL works (Twilio's MCS: minutes)
ERROR_LIMIT = 1000

# RFC 6838 restricted names: `type/subtype`, each a letter or digit and then up to 126 more characters.
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_CHARSET = re.compile(r"^[a-z0-9][a-z0-9._:+-]{0,39}$")
_URL_KEY_CONTEXT = b"bridge media public URL v1"
_TEMPORARY_KEY_CONTEXT = b"bridge media temporary URL v1"
_EXPIRY = re.compile(r"^[0-9]{1,12}$")
_TOKEN_BYTES = 16  # 128 bits, 22 characters of base64url


# --- validation ----------------------------------------------------------------------------------------------


def clean_content_type(raw: str | None) -> str:
    """`type/subtype` in lower case, keeping a `charset` parameter; anything else is refused (400)."""
    if raw is None or not raw.strip():
        raise invalid("A Content-Type is required: the media's MIME type, such as image/jpeg")
    main, _, parameters = raw.partition(";")
    mime = main.strip().lower()
    if not _MEDIA_TYPE.match(mime):
        raise invalid(f"Content-Type {raw[:100]!r} is not a valid media type (type/subtype)")
    charset = None
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        value = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and _CHARSET.match(value):
            charset = value
    cleaned = f"{mime}; charset={charset}" if charset else mime
    if len(cleaned) > CONTENT_TYPE_LIMIT:
        raise invalid(f"Content-Type must be at most {CONTENT_TYPE_LIMIT} characters")
    return cleaned


def clean_filename(raw: str | None) -> str | None:
    """The file's own name: directories dropped (browsers send `C:\\fakepath\\photo.jpg`), at most 256
    characters, no control characters. Empty means none."""
    if raw is None:
        return None
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise invalid("Filename must not contain control characters")
    return text(name, "Filename", FILENAME_LIMIT)


def too_large(max_bytes: int) -> BridgeError:
    return BridgeError(INVALID_PARAMETER, f"Media exceeds the {max_bytes}-byte limit", 413)


# --- uploaded media ------------------------------------------------------------------------------------------


def create_uploaded_media(
    session: Session,
    store: MediaStore,
    service: ConversationService,
    *,
    data: bytes,
    content_type: str | None,
    filename: str | None = None,
    author: str | None = None,
    max_bytes: int,
) -> Media:
    """Stores an upload and returns its ready `Media` row (flushed, in the caller's transaction)."""
    if not data:
        raise invalid("The media is empty")
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    media = Media(
        sid=new_sid("ME"),
        service_id=service.id,
        content_type=clean_content_type(content_type),
        filename=clean_filename(filename),
        size=len(data),
        author=text(author, "Author", 256) if author else SYSTEM_AUTHOR,
        status=READY,
        fetch_attempts=0,
    )
    session.add(media)
    session.flush()
    store.put(session, media, data)
    session.flush()
    return media


def find_media(session: Session, service: ConversationService, sid: str) -> Media:
    """A media of `service`; another service's media is not found, exactly like a missing one."""
    found = (
        session.scalar(select(Media).where(Media.sid == sid, Media.service_id == service.id))
        if is_sid(sid, "ME")
        else None
    )
    if found is None:
        raise not_found(f"Media {sid} not found")
    return found


def read_content(session: Session, store: MediaStore, media: Media) -> bytes:
    if media.status == PENDING:
        raise not_found(f"Media {media.sid} is still being fetched from the carrier")
    if media.status != READY:
        raise not_found(f"Media {media.sid} could not be fetched from the carrier")
    return store.read(session, media)


def message_of(session: Session, media: Media) -> Message | None:
    return session.get(Message, media.message_id) if media.message_id is not None else None


# --- media on messages ---------------------------------------------------------------------------------------


def describe(media: Media) -> dict[str, object]:
    """One item of a message's `media` field, as Twilio shows it."""
    return {
        "sid": media.sid,
        "size": media.size,
        "content_type": media.content_type,
        "filename": media.filename,
        "category": CATEGORY,
    }


def message_media(rows: list[Media]) -> list[dict[str, object]]:
    return [describe(media) for media in rows]


def media_for_message(session: Session, service: ConversationService, sids: list[str]) -> list[Media]:
    """The ready, unattached media of `service` named by `sids` (a message create's `MediaSid`), in order."""
    if len(sids) > MAX_MEDIA_PER_MESSAGE:
        raise invalid(f"A message can carry at most {MAX_MEDIA_PER_MESSAGE} media")
    for sid in sids:
        if not is_sid(sid, "ME"):
            raise invalid(f"MediaSid {sid[:64]!r} is not a Media SID (ME followed by 32 hex digits)")
    if len(set(sids)) != len(sids):
        raise invalid("The same MediaSid is given twice")
    rows = session.scalars(select(Media).where(Media.sid.in_(sids), Media.service_id == service.id)).all()
    by_sid = {media.sid: media for media in rows}
    ordered: list[Media] = []
    for sid in sids:
        media = by_sid.get(sid)
        if media is None:
            raise invalid(f"Media {sid} not found in this Conversation Service")
        if media.message_id is not None:
            raise invalid(f"Media {sid} is already attached to a message")
        if media.status != READY:
            raise invalid(f"Media {sid} is not ready")
        ordered.append(media)
    return ordered


def check_message_limits(rows: list[Media]) -> None:
    """A chat message's files: at most MAX_MESSAGE_MEDIA_BYTES together (what the SDK's Configuration announces,
    enforced here for clients that do not check; `media_for_message` has already checked their number)."""
    total = sum(media.size or 0 for media in rows)
    if total > MAX_MESSAGE_MEDIA_BYTES:
        raise invalid(f"A message's media may total at most {MAX_MESSAGE_MEDIA_BYTES} bytes ({total} given)")


def attach_to_message(session: Session, rows: list[Media], message: Message) -> None:
    """Links `rows` to the message just created. Conditional on each being still unattached, so two requests
    racing for one media cannot both attach it: the loser's transaction fails with 400."""
    if not rows:
        return
    if message.id is None:
        session.flush()
    attached = session.execute(
        update(Media)
        .where(Media.id.in_([media.id for media in rows]), Media.message_id.is_(None))
        .values(message_id=message.id, date_updated=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if attached != len(rows):
        raise invalid("A MediaSid was attached to another message at the same time")
    for media in rows:
        session.refresh(media)


# --- inbound carrier media -----------------------------------------------------------------------------------


def add_pending_inbound(
    session: Session, service: ConversationService, message: Message | None, url: str, content_type: str | None
) -> Media:
    """Records a carrier's media (`MediaUrl{N}`, `MediaContentType{N}`) of an inbound message, to be fetched.
    `message` may be None when the rows are made first; link them later with `attach_to_message`."""
    if message is not None and message.id is None:
        session.flush()
    try:
        declared = clean_content_type(content_type)
    except BridgeError:  # never refuse an inbound message over the carrier's labelling
        declared = DEFAULT_CONTENT_TYPE
    media = Media(
        sid=new_sid("ME"),
        service_id=service.id,
        message_id=message.id if message is not None else None,
        content_type=declared,
        author=message.author if message is not None else None,
        status=PENDING,
        carrier_url=url,
        fetch_attempts=0,
    )
    session.add(media)
    session.flush()
    return media


def store_fetched(session: Session, store: MediaStore, media: Media, data: bytes, content_type: str | None) -> Media:
    """Marks a pending media ready with the fetched bytes. The response's Content-Type wins over the carrier's
    declared one when it is valid. A media already ready is left alone (a duplicated task)."""
    if media.status == READY:
        return media
    with contextlib.suppress(BridgeError):  # an invalid one: keep what the carrier declared
        media.content_type = clean_content_type(content_type)
    media.size = len(data)
    store.put(session, media, data)
    media.status = READY
    media.error = None
    media.fetch_attempts += 1
    _refresh_message_snapshot(session, media)
    session.flush()
    return media


def record_fetch_retry(session: Session, media: Media, reason: str) -> Media:
    """One failed attempt that will be tried again: the media stays pending."""
    media.fetch_attempts += 1
    media.error = reason[:ERROR_LIMIT]
    session.flush()
    return media


def mark_failed(session: Session, media: Media, reason: str) -> Media:
    """The last attempt failed: the media will never have content."""
    media.status = FAILED
    media.fetch_attempts += 1
    media.error = reason[:ERROR_LIMIT]
    session.flush()
    return media


def _refresh_message_snapshot(session: Session, media: Media) -> None:
    """A message's `media` field is a snapshot; bring this media's item up to date (size, content type)."""
    message = message_of(session, media)
    if message is None or not message.media:
        return
    items = [
        describe(media) if isinstance(item, dict) and item.get("sid") == media.sid else item for item in message.media
    ]
    if items != message.media:
        message.media = items  # a new list: JSON columns only notice reassignment


# --- public URLs ---------------------------------------------------------------------------------------------


def _url_key(settings: Settings) -> bytes:
    # Derived, so the auth token itself never keys anything that is shown in public.
    return hmac.new(settings.auth_token.encode(), _URL_KEY_CONTEXT, hashlib.sha256).digest()


def url_token(settings: Settings, sid: str) -> str:
    digest = hmac.new(_url_key(settings), sid.encode(), hashlib.sha256).digest()[:_TOKEN_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_matches(settings: Settings, sid: str, token: str) -> bool:
    return hmac.compare_digest(url_token(settings, sid).encode(), token.encode("utf-8", "replace"))


def public_url(settings: Settings, media: Media | str) -> str:
    """The unauthenticated, never-expiring URL of a media's content (give it to carriers and SMS recipients)."""
    sid = media if isinstance(media, str) else media.sid
    return f"{settings.public_base_url}/media/{sid}/{url_token(settings, sid)}"


def _temporary_key(settings: Settings) -> bytes:
    return hmac.new(settings.auth_token.encode(), _TEMPORARY_KEY_CONTEXT, hashlib.sha256).digest()


def temporary_token(settings: Settings, sid: str, expires: int) -> str:
    message = f"{sid}.{expires}".encode()
    digest = hmac.new(_temporary_key(settings), message, hashlib.sha256).digest()[:_TOKEN_BYTES]
    return f"{expires}." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def temporary_url(settings: Settings, media: Media | str, issued_at: datetime | None = None) -> str:
    """A URL of the content that works for TEMPORARY_URL_SECONDS from `issued_at` (now), without credentials."""
    sid = media if isinstance(media, str) else media.sid
    expires = int((issued_at or utcnow()).timestamp()) + TEMPORARY_URL_SECONDS
    return f"{settings.public_base_url}/media/{sid}/{temporary_token(settings, sid, expires)}"


def expired_url() -> BridgeError:
    return BridgeError(FORBIDDEN, "This temporary media URL has expired; fetch the media again for a new one", 403)


def is_temporary(token: str) -> bool:
    """A temporary URL's token (`{expires}.{hmac}`), as opposed to a public URL's (base64url, no dot): its form,
    not its secret, is what is looked at."""
    return bool(token.partition(".")[1])


def token_state(settings: Settings, sid: str, token: str, now: datetime) -> str:
    """`valid`, `expired` (a temporary token the bridge issued, past its time) or `invalid`."""
    if not is_temporary(token):
        return "valid" if token_matches(settings, sid, token) else "invalid"
    expires = token.partition(".")[0]
    if not _EXPIRY.match(expires):
        return "invalid"
    right = temporary_token(settings, sid, int(expires))
    if not hmac.compare_digest(right.encode(), token.encode("utf-8", "replace")):
        return "invalid"
    return "valid" if now.timestamp() < int(expires) else "expired"


def find_public(
    session: Session, settings: Settings, sid: str, token: str, now: datetime | None = None
) -> Media | None:
    """The ready media a public or temporary URL names, or None (unknown, wrong token, not fetched yet: all look
    alike). The token is checked before the database is asked, so answers reveal nothing about which SIDs exist.
    A temporary token the bridge issued that has run out raises `expired_url` (403)."""
    state = token_state(settings, sid, token, now or utcnow()) if is_sid(sid, "ME") else "invalid"
    if state == "invalid":
        return None
    if state == "expired":
        raise expired_url()
    media = session.scalar(select(Media).where(Media.sid == sid))
    return media if media is not None and media.status == READY else None

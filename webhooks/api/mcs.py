"""The media service chat clients call (Twilio's Media Content Service, MCS, as `@twilio/mcs-client` calls it), at
the links the client Configuration hands out (bridge/chat/client_api.py):

- `POST /MCS/v1/Services/{IS}/Media?Category=media&Filename=x.png`: upload; the body is the file with its
  Content-Type, or a multipart form (a browser's FormData). 201 with the media record; its author is the token's
  identity. At most BRIDGE_MEDIA_MAX_BYTES (413).
- `GET /MCS/v1/Services/{IS}/Media/{ME}`: the record, `links.content_direct_temporary` a temporary URL of the
  content (bridge/media.py: it needs no credentials and works for minutes); `GET .../Content`: the bytes.
- `POST /MCS/v1/Services/{IS}/MediaSet`, `{"command": "get", "list": [{"media_sid": "ME..."}]}`: a JSON array,
  `{"code": 200, "media_record": {...}}` per SID, or code 404 for one the caller may not see.

A request authenticates with the chat client's access token in `X-Twilio-Token` (401 with Twilio's 2010x codes
without a valid one; 403 for a token of another service). A client reads media of messages in conversations it
takes part in, and its own uploads not yet sent (bridge/chat/access.py); anything else is not found.

Browsers call these cross-origin with XHR and a custom header: a preflight `OPTIONS` is answered with CORS headers
for the pages BRIDGE_ALLOWED_ORIGINS allows (and the bridge's own); another Origin gets no CORS headers and a 403.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from bridge import access_tokens, jsontext
from bridge import media as media_domain
from bridge.chat.access import Caller, caller_for, forbidden, visible_media
from bridge.errors import invalid, not_found
from bridge.models import Media
from bridge.origins import origin_allowed
from webhooks.api.base import created, database, ok, session, settings, transactional
from webhooks.api.media import (
    Upload,
    content_response,
    media_record,
    media_store,
    read_upload,
    storage_errors,
    store_upload,
)

blueprint = Blueprint("mcs", __name__, url_prefix="/MCS/v1/Services/<service_sid>")

TOKEN_HEADER = "X-Twilio-Token"
ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "X-Twilio-Token, Content-Type"
PREFLIGHT_MAX_AGE = 600  # seconds a browser may keep a preflight's answer
MEDIA_SET_LIMIT = 100  # SIDs in one MediaSet request (a page of messages' media)


# --- CORS ----------------------------------------------------------------------------------------------------


@blueprint.before_request
def _check_origin() -> Response | None:
    origin = request.headers.get("Origin")
    if not origin_allowed(settings(), origin):
        raise forbidden(f"Origin {origin[:100]!r} may not use the media service (BRIDGE_ALLOWED_ORIGINS)")
    if request.method != "OPTIONS":
        return None
    response = Response(status=204)
    response.headers["Allow"] = ALLOWED_METHODS
    if origin:
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response


@blueprint.after_request
def _allow_origin(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin and origin_allowed(settings(), origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
    return response


# --- who is calling ------------------------------------------------------------------------------------------


def _caller(db_session: Session, service_sid: str) -> Caller:
    """The chat client of the request's access token, whose grant must be for the path's service."""
    token = request.headers.get(TOKEN_HEADER, "").strip()
    if not token:
        raise access_tokens.refused(access_tokens.INVALID_TOKEN, f"An access token is required ({TOKEN_HEADER})")
    client = access_tokens.verify(db_session, token, settings().account_sid)
    if client.service_sid != service_sid:
        raise forbidden("The token is for another Conversation Service")
    return caller_for(db_session, client, settings().public_base_url)


def _record(caller: Caller, media: Media) -> dict[str, Any]:
    ready = media.status == media_domain.READY
    path = f"/MCS/v1/Services/{caller.service.sid}/Media/{media.sid}"
    direct = media_domain.temporary_url(settings(), media) if ready else None  # inbound media not fetched: none yet
    record = media_record(caller.service, media, path, direct)
    record["date_upload_updated"] = record["date_updated"] if ready else None
    record["is_multipart_upstream"] = False
    return record


def _visible(caller: Caller, sid: str) -> Media:
    media = visible_media(session(), caller, [sid]).get(sid)
    if media is None:  # missing, another service's, or not the caller's to see: one answer
        raise not_found(f"Media {sid[:64]} not found")
    return media


# --- routes --------------------------------------------------------------------------------------------------


@blueprint.post("/Media")
def create_media(service_sid: str) -> tuple[Response, int]:
    category = request.args.get("Category") or media_domain.CATEGORY
    with database().transaction() as db_session:  # the token first: a stranger's body is never read
        _caller(db_session, service_sid)
    if category != media_domain.CATEGORY:
        raise invalid(f"Category {category[:32]!r} is not supported (only {media_domain.CATEGORY!r})")
    upload = read_upload(settings().media_max_bytes)  # outside any transaction: a slow upload holds no lock
    return _store(service_sid, upload)


@transactional
def _store(service_sid: str, upload: Upload) -> tuple[Response, int]:
    caller = _caller(session(), service_sid)
    return created(_record(caller, store_upload(caller.service, upload, caller.identity)))


@blueprint.get("/Media/<sid>")
@transactional
def fetch_media(service_sid: str, sid: str) -> Response:
    caller = _caller(session(), service_sid)
    return ok(_record(caller, _visible(caller, sid)))


@blueprint.get("/Media/<sid>/Content")
@transactional
def fetch_media_content(service_sid: str, sid: str) -> Response:
    media = _visible(_caller(session(), service_sid), sid)
    with storage_errors():
        data = media_domain.read_content(session(), media_store(), media)
    return content_response(media, data, cache="private, max-age=3600")


@blueprint.post("/MediaSet")
@transactional
def media_set(service_sid: str) -> Response:
    caller = _caller(session(), service_sid)
    sids = _media_set_sids()
    visible = visible_media(session(), caller, sids)
    answers = []
    for sid in sids:
        media = visible.get(sid)
        if media is None:
            answers.append({"code": 404, "message": f"Media {sid[:64]} not found", "media_record": {"sid": sid}})
        else:
            answers.append({"code": 200, "media_record": _record(caller, media)})
    return jsonify(answers)


def _media_set_sids() -> list[str]:
    try:
        body = jsontext.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise invalid("The MediaSet request is not JSON") from None
    if not isinstance(body, dict) or body.get("command") != "get":
        raise invalid('A MediaSet request is {"command": "get", "list": [{"media_sid": "ME..."}]}')
    items = body.get("list")
    if not isinstance(items, list) or len(items) > MEDIA_SET_LIMIT:
        raise invalid(f"list must be an array of at most {MEDIA_SET_LIMIT} items")
    sids = [item.get("media_sid") if isinstance(item, dict) else None for item in items]
    if not all(isinstance(sid, str) and sid for sid in sids):
        raise invalid("Each item of list needs a media_sid")
    return [str(sid) for sid in sids]

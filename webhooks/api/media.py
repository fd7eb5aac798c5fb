"""Media, as Twilio's Media Content Service (MCS) serves it, and the public content URLs carriers fetch.

- `POST /v1/Services/{IS}/Media`: upload. The body is the file itself with its MIME type as `Content-Type`
  (`curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg'`), the form Twilio documents; `Filename` and
  `Author` may be given as query parameters, or the name in a `Content-Disposition` header. A
  `multipart/form-data` body is accepted too, as clients send it to MCS: the file in a part named `Media` or
  `file` (or the only file part), and optional `FileName` and `Author` fields.
- `GET /v1/Services/{IS}/Media/{ME}`: the Media JSON; `GET .../Content`: the bytes (Basic auth, like all /v1).
- `GET /media/{ME}/{token}`: the bytes without credentials, for carriers (MMS) and SMS recipients (links).
  Only the token, an HMAC of the SID (see bridge/media.py), authorises it; it never expires. A temporary token
  (`{expires}.{hmac}`, handed to chat clients by the media service, webhooks/api/mcs.py) works the same until
  it expires, then is refused with 403.
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import parse_form_data
from werkzeug.http import parse_options_header

from bridge import media as media_domain
from bridge.errors import BridgeError, invalid, not_found
from bridge.media_storage import MediaStorageError, MediaStore, build_store
from bridge.models import ConversationService, Media
from bridge.services import find_service
from bridge.timeutil import iso
from webhooks.api.base import absolute, created, ok, session, settings, transactional
from webhooks.forms import Params

blueprint = Blueprint("media", __name__)

SERVICE_UNAVAILABLE = 20503
FILE_PARTS = ("Media", "media", "file", "File")
FILENAME_FIELDS = ("FileName", "Filename", "filename")
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and small fields around the file itself
FORM_FIELDS_BYTES = 16 * 1024  # the non-file fields of a multipart upload (FileName, Author)


def media_store() -> MediaStore:
    """One store per app: building an S3 client is not free."""
    store = current_app.extensions.get("bridge.media_store")
    if store is None:
        store = current_app.extensions.setdefault("bridge.media_store", build_store(settings()))
    return store


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    try:
        yield
    except MediaStorageError as exc:
        current_app.logger.error("media storage failed: %s", exc)
        raise BridgeError(SERVICE_UNAVAILABLE, "Media storage is unavailable; try again later", 503) from None


def represent(service: ConversationService, media: Media) -> dict[str, Any]:
    ready = media.status == media_domain.READY
    # Twilio's is a short-lived CDN URL; the bridge's public URL does not expire (bridge/media.py).
    direct = media_domain.public_url(settings(), media) if ready else None
    return media_record(service, media, f"/v1/Services/{service.sid}/Media/{media.sid}", direct)


def media_record(service: ConversationService, media: Media, path: str, direct: str | None) -> dict[str, Any]:
    """The Media JSON, REST's and the media service's alike: `path` is the media's own URL path, `direct` the
    content URL given as `links.content_direct_temporary`."""
    message = media_domain.message_of(session(), media)
    return {
        "sid": media.sid,
        "account_sid": settings().account_sid,
        "service_sid": service.sid,
        "date_created": iso(media.date_created),
        "date_updated": iso(media.date_updated),
        "channel_sid": message.conversation.sid if message is not None else None,
        "message_sid": message.sid if message is not None else None,
        "size": media.size,
        "content_type": media.content_type,
        "filename": media.filename,
        "author": media.author,
        "category": media_domain.CATEGORY,
        "url": absolute(path),
        "links": {"content": absolute(path + "/Content"), "content_direct_temporary": direct},
    }


# --- upload --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    data: bytes
    content_type: str | None
    filename: str | None
    author: str | None


def _first(params: Params, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = params.str(name)
        if value:
            return value
    return None


def _file_part(files: MultiDict[str, FileStorage]) -> FileStorage:
    for name in FILE_PARTS:
        part = files.get(name)
        if part is not None:
            return part
    parts = list(files.values())
    if len(parts) == 1:
        return parts[0]
    if not parts:
        raise invalid("A multipart upload needs the file in a part named Media or file")
    raise invalid("A multipart upload must carry one file (in a part named Media or file)")


def _multipart_upload(body: bytes, max_bytes: int) -> Upload:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    # Malformed multipart parses as empty (silent) and ends in the "needs the file" 400 below.
    _, fields, files = parse_form_data(environ, max_form_memory_size=FORM_FIELDS_BYTES, max_form_parts=100)
    part = _file_part(files)
    data = part.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise media_domain.too_large(max_bytes)
    form, query = Params(fields), Params(request.args)
    filename = _first(form, FILENAME_FIELDS) or _first(query, FILENAME_FIELDS) or part.filename
    content_type = part.content_type
    # Many clients label every part application/octet-stream; the file name says more.
    if not content_type or content_type.split(";")[0].strip().lower() == media_domain.DEFAULT_CONTENT_TYPE:
        content_type = _guess_type(filename) or content_type or media_domain.DEFAULT_CONTENT_TYPE
    return Upload(data, content_type, filename, form.str("Author") or query.str("Author"))


def _guess_type(filename: str | None) -> str | None:
    return mimetypes.guess_type(filename or "", strict=False)[0]


def _raw_upload(body: bytes) -> Upload:
    query = Params(request.args)
    filename = _first(query, FILENAME_FIELDS)
    disposition = request.headers.get("Content-Disposition")
    if not filename and disposition:
        filename = parse_options_header(disposition)[1].get("filename")
    return Upload(body, request.headers.get("Content-Type"), filename, query.str("Author"))


def read_upload(max_bytes: int) -> Upload:
    """The uploaded file, its type and name, whichever way the client sent it; 413 past `max_bytes`."""
    mimetype = request.mimetype
    multipart = mimetype == "multipart/form-data"
    cap = max_bytes + (MULTIPART_OVERHEAD if multipart else 0)
    if request.content_length is not None and request.content_length > cap:
        raise media_domain.too_large(max_bytes)
    if not mimetype:
        raise invalid("A Content-Type header is required: the media's MIME type, such as image/jpeg")
    if mimetype == "application/x-www-form-urlencoded":
        # What `curl --data-binary @file` sends when no type is given: almost certainly not the file's type.
        raise invalid(
            "Send the file's own MIME type as Content-Type (for example -H 'Content-Type: image/jpeg'), "
            "or upload it as multipart/form-data"
        )
    # Lift the app-wide cap (MAX_CONTENT_LENGTH) for this route only, before the body is touched. One byte over
    # the cap: Werkzeug stops a chunked (length-less) body silently at its limit, so reading one byte more is
    # how "too large" differs from "exactly the cap" there.
    request.max_content_length = cap + 1
    try:
        body = request.stream.read()
    except RequestEntityTooLarge:
        raise media_domain.too_large(max_bytes) from None
    if len(body) > cap:
        raise media_domain.too_large(max_bytes)
    return _multipart_upload(body, max_bytes) if multipart else _raw_upload(body)


@blueprint.post("/v1/Services/<service_sid>/Media", provide_automatic_options=False)
def create_media(service_sid: str) -> tuple[Response, int]:
    # The body is read before the transaction begins: a slow upload must not hold a database lock.
    upload = read_upload(settings().media_max_bytes)
    return _store_upload(service_sid, upload)


@transactional
def _store_upload(service_sid: str, upload: Upload) -> tuple[Response, int]:
    service = find_service(session(), service_sid)
    return created(represent(service, store_upload(service, upload, upload.author)))


def store_upload(service: ConversationService, upload: Upload, author: str | None) -> Media:
    """Keeps an upload as a ready Media of `service`, in the request's transaction."""
    with storage_errors():
        return media_domain.create_uploaded_media(
            session(),
            media_store(),
            service,
            data=upload.data,
            content_type=upload.content_type,
            filename=upload.filename,
            author=author,
            max_bytes=settings().media_max_bytes,
        )


# --- fetch ---------------------------------------------------------------------------------------------------


@blueprint.get("/v1/Services/<service_sid>/Media/<sid>", provide_automatic_options=False)
@transactional
def fetch_media(service_sid: str, sid: str) -> Response:
    service = find_service(session(), service_sid)
    return ok(represent(service, media_domain.find_media(session(), service, sid)))


@blueprint.get("/v1/Services/<service_sid>/Media/<sid>/Content", provide_automatic_options=False)
@transactional
def fetch_media_content(service_sid: str, sid: str) -> Response:
    service = find_service(session(), service_sid)
    media = media_domain.find_media(session(), service, sid)
    with storage_errors():
        data = media_domain.read_content(session(), media_store(), media)
    return content_response(media, data, cache="private, max-age=3600")


@blueprint.get("/media/<sid>/<token>")
@transactional
def public_media_content(sid: str, token: str) -> Response:
    media = media_domain.find_public(session(), settings(), sid, token)
    if media is None:  # unknown, wrong token, or not fetched yet: one answer for all
        raise not_found("The requested resource was not found")
    with storage_errors():
        data = media_domain.read_content(session(), media_store(), media)
    # The content of a SID never changes, so caches may keep it (a temporary URL's only while it works).
    cache = "private, max-age=60" if media_domain.is_temporary(token) else "public, max-age=86400, immutable"
    return content_response(media, data, cache=cache)


def content_response(media: Media, data: bytes, cache: str) -> Response:
    response = Response(data, status=200, content_type=media.content_type)
    if media.filename:
        response.headers["Content-Disposition"] = _inline_disposition(media.filename)
    # Uploaded content is served from the bridge's own origin: never let a browser run it as a page.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = cache
    response.set_etag(media.sid)
    return response.make_conditional(request)


def _inline_disposition(filename: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"

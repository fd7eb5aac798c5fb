"""Twilio's webhooks: inbound messages (`/webhooks/twilio/inbound`) and status callbacks.

Each request is verified with `X-Twilio-Signature` against the public URL the carrier called, stored in one
short transaction, and answered at once; delivery happens in the workers. Each is counted once answered
(`bridge_webhooks_total`): accepted with what became of it, or refused by the status it got.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, g, request
from sqlalchemy.exc import IntegrityError, OperationalError
from twilio.request_validator import RequestValidator

from bridge import delivery, inbound, metrics
from bridge.addresses import AddressError, channel_named
from bridge.carriers import carrier_auth_token
from bridge.errors import BridgeError, invalid
from webhooks.api.base import database, settings
from webhooks.errors import error_response

log = logging.getLogger(__name__)
blueprint = Blueprint("carrier_twilio", __name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_WEBHOOK_BYTES = 256 * 1024  # Twilio's inbound bodies are at most 32 KB; leave room for its other fields
MAX_MEDIA = 10


def _twiml(outcome: str) -> Response:
    g.webhook_outcome = outcome
    return Response(EMPTY_TWIML, status=200, mimetype="text/xml")


@blueprint.after_request
def _count(response: Response) -> Response:
    """Every answer, refusals raised before the view included (an oversized body is refused by the app)."""
    webhook = metrics.STATUS if request.endpoint == "carrier_twilio.receive_status" else metrics.INBOUND
    outcome = g.pop("webhook_outcome", None)
    if response.status_code < 300 and outcome is not None:
        metrics.webhook_accepted(webhook, outcome)
    else:
        metrics.webhook_refused(webhook, response.status_code)
    return response


def _signed_url() -> str:
    """The URL Twilio signed: the public base URL, the path, and the query string exactly as sent (raw
    percent-escapes: Werkzeug's decoded `request.url` would not match the signature)."""
    url = settings().public_base_url + request.path
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return url


def _verify_signature() -> Response | None:
    request.max_content_length = MAX_WEBHOOK_BYTES
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        log.warning("rejected %s: no X-Twilio-Signature header", request.path)
        return error_response(BridgeError(20003, "Missing X-Twilio-Signature", 403))
    validator = RequestValidator(carrier_auth_token(settings()) or "")
    if not validator.validate(_signed_url(), request.form, signature):
        log.warning("rejected %s: signature does not match (check PUBLIC_BASE_URL and the auth token)", request.path)
        return error_response(BridgeError(20003, "Invalid X-Twilio-Signature", 403))
    # Twilio never sends NUL, and PostgreSQL cannot store it in the columns these fields go to: refused whole, as
    # the REST API refuses it. Other fields are ignored (and kept JSON-escaped with an unrouted message's payload).
    if any("\x00" in value for key, value in request.form.items(multi=True) if _read_field(key)):
        return error_response(invalid("Webhook fields must not contain NUL characters"))
    return None


# The fields the webhooks read; anything else a carrier adds is ignored.
READ_FIELDS = frozenset(
    {"MessageSid", "SmsMessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "MessageStatus", "SmsStatus"}
    | {"ErrorCode", "ErrorMessage", "ChannelStatusMessage"}
)
MEDIA_FIELD = re.compile(r"(MediaUrl|MediaContentType)\d+")


def _read_field(key: str) -> bool:
    return key in READ_FIELDS or MEDIA_FIELD.fullmatch(key) is not None


def _media() -> list[inbound.InboundMedia]:
    raw = request.form.get("NumMedia") or "0"
    try:
        count = int(raw)
    except ValueError:
        raise invalid("NumMedia must be an integer") from None
    if not 0 <= count <= MAX_MEDIA:
        raise invalid(f"NumMedia must be between 0 and {MAX_MEDIA}")
    found = []
    for n in range(count):
        url = request.form.get(f"MediaUrl{n}")
        if url:
            found.append(inbound.InboundMedia(url, request.form.get(f"MediaContentType{n}")))
    return found


@blueprint.post("/webhooks/twilio/inbound")
def receive_inbound() -> Response:
    rejected = _verify_signature()
    if rejected is not None:
        return rejected
    form = request.form
    message_sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not message_sid or len(message_sid) > 64:
        return error_response(invalid("MessageSid is missing or malformed"))
    message = inbound.InboundMessage(
        carrier="twilio",
        carrier_message_sid=message_sid,
        from_address=form.get("From", ""),
        to_address=form.get("To", ""),
        body=form.get("Body"),
        media=_media(),
        payload={key: form.getlist(key) if len(form.getlist(key)) > 1 else form[key] for key in form},
    )
    try:
        inbound.parse_pair(message)
    except AddressError as exc:
        log.warning("rejected inbound %s: malformed From/To (%s)", message_sid, exc)
        return error_response(invalid(f"Malformed From or To: {exc}", 21211))
    try:
        with database().transaction() as session:
            result = inbound.accept_inbound(session, message)
    except IntegrityError:
        # The same MessageSid arrived twice at once and the other request stored it first.
        with database().transaction() as session:
            if not inbound.is_duplicate(session, message_sid):
                raise
        log.info("inbound %s: duplicate (concurrent)", message_sid)
        return _twiml(inbound.DUPLICATE)
    except OperationalError:
        # The database is unreachable: a 5xx makes the carrier retry later, and nothing was stored.
        log.exception("inbound %s: could not be stored", message_sid)
        return error_response(BridgeError(20500, "Temporarily unable to store the message", 503))
    log.info("inbound %s: %s %s", message_sid, result.outcome, result.message_sid or "")
    return _twiml(result.outcome)


@blueprint.post("/webhooks/twilio/status/<delivery_sid>")
def receive_status(delivery_sid: str) -> Response:
    rejected = _verify_signature()
    if rejected is not None:
        return rejected
    form = request.form
    message_sid = form.get("MessageSid") or form.get("SmsSid")
    if message_sid is not None and len(message_sid) > 64:  # as on inbound: it is stored in 64 characters
        return error_response(invalid("MessageSid is malformed"))
    raw_code = form.get("ErrorCode") or ""
    update = delivery.StatusUpdate(
        delivery_sid=delivery_sid,
        carrier_message_sid=message_sid,
        carrier_status=form.get("MessageStatus") or form.get("SmsStatus") or "",
        # Twilio's codes have five digits. isdigit() alone also passes "²" (int() refuses it) and numbers past
        # the column: anything else is no code, and the status itself still counts.
        error_code=int(raw_code) if raw_code.isascii() and raw_code.isdigit() and len(raw_code) <= 6 else None,
        error_message=form.get("ErrorMessage") or form.get("ChannelStatusMessage"),
    )
    try:
        with database().transaction() as session:
            applied = delivery.apply_status(session, update)
    except OperationalError:
        log.exception("status callback for %s could not be stored", delivery_sid)
        return error_response(BridgeError(20500, "Temporarily unable to store the status", 503))
    if not applied:
        return _twiml(metrics.IGNORED)
    status = delivery.CARRIER_STATUSES[update.carrier_status.strip().lower()]
    if status != delivery.SENT:  # `sent` is counted once, by the worker that recorded the carrier's acceptance
        final_code = update.error_code if status in delivery.FINAL else None
        metrics.delivery_reached(status, channel_named(form.get("To", "")), final_code)
    return _twiml(metrics.APPLIED)

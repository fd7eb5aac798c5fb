"""Rendering a channel-neutral message for one recipient's channel, just before it is sent. Pure: no I/O.

What each channel receives:

- SMS: the text, GSM-7 or UCS-2 by content (optionally smart-encoded), split into several sends when it is
  longer than 1,600 characters. Media goes as MMS (`MediaUrl`, pointing at the bridge) to US and Canadian
  numbers when it fits MMS (at most 10 files, 5 MB in all, common types); otherwise each file becomes a
  link at the end of the text.
- WhatsApp: the text (split at 1,600 characters) and one media file per send. Outside the 24-hour
  customer-service window only a template (`ContentSid`) may go out; anything else fails with 63016.
- Both: a message with `ContentSid` goes out as that template. With attribution on, in conversations of
  more than two participants, the text starts with the author's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bridge import sms
from bridge.addresses import WHATSAPP, parse_address, region_of
from bridge.carriers.base import WHATSAPP_WINDOW_CLOSED, OutboundMessage

MMS_REGIONS = frozenset({"US", "CA"})
MMS_MAX_FILES = 10
MMS_MAX_BYTES = 5 * 1024 * 1024
# Types Twilio converts for MMS reliably (its Conversations limits: JPG, PNG, GIF, MP3, AMR, MP4, PDF).
MMS_TYPES = frozenset(
    {"image/jpeg", "image/jpg", "image/png", "image/gif", "audio/mpeg", "audio/mp3", "audio/amr", "video/mp4",
     "application/pdf"}
)  # fmt: skip
WHATSAPP_MAX_BYTES = 16 * 1024 * 1024
WINDOW_CLOSED_MESSAGE = (
    "Outside the WhatsApp 24-hour window: only a template (ContentSid) may be sent until the person writes again"
)


@dataclass(frozen=True)
class MediaItem:
    sid: str
    content_type: str
    size: int | None


@dataclass(frozen=True)
class RenderRequest:
    """One delivery, as the worker read it while holding the claim."""

    reference: str  # the delivery SID
    channel: str  # sms | whatsapp
    address: str
    proxy_address: str
    status_callback: str
    body: str | None
    media: list[MediaItem] = field(default_factory=list)
    content_sid: str | None = None
    content_variables: str | None = None
    author_name: str | None = None  # set when attribution applies to this delivery
    smart_encoding: bool = False
    window_open: bool = True  # WhatsApp customer-service window


@dataclass(frozen=True)
class Rendering:
    sends: list[OutboundMessage]
    encoding: str | None = None
    segments: int | None = None
    blocked: tuple[int, str] | None = None  # (error code, message): do not call the carrier


def render(request: RenderRequest, media_url: Callable[[str], str]) -> Rendering:
    """The sends that carry one delivery to its recipient, in order. From = their proxy, To = their address."""
    if request.content_sid:
        return Rendering([_outbound(request, None, [], content=True)])
    if request.channel == WHATSAPP:
        if not request.window_open:
            return Rendering([], blocked=(WHATSAPP_WINDOW_CLOSED, WINDOW_CLOSED_MESSAGE))
        return _whatsapp(request, media_url)
    return _sms(request, media_url)


def _text(request: RenderRequest) -> str:
    body = request.body or ""
    if request.author_name:
        return f"{request.author_name}: {body}" if body else f"{request.author_name}:"
    return body


def _with_links(text: str, urls: list[str]) -> str:
    return "\n".join(part for part in (text, *urls) if part)


def _sms(request: RenderRequest, media_url: Callable[[str], str]) -> Rendering:
    mms, linked = _mms_split(request)
    text = _with_links(_text(request), [media_url(item.sid) for item in linked])
    plan = sms.plan(text, smart=request.smart_encoding)
    bodies = plan.bodies or [""]
    sends = [_outbound(request, bodies[0] or None, [media_url(item.sid) for item in mms])]
    sends += [_outbound(request, body, []) for body in bodies[1:]]
    if not sends[0].body and not sends[0].media_urls:
        sends = sends[1:]
    return Rendering(sends, encoding=plan.encoding, segments=plan.segments)


def _mms_split(request: RenderRequest) -> tuple[list[MediaItem], list[MediaItem]]:
    """Which files go as MMS attachments and which as links."""
    if not request.media:
        return [], []
    try:
        region = region_of(parse_address(request.address))
    except ValueError:
        region = None
    if region not in MMS_REGIONS:
        return [], list(request.media)
    attached: list[MediaItem] = []
    linked: list[MediaItem] = []
    total = 0
    for item in request.media:
        size = item.size or 0
        fits = (
            item.content_type.lower() in MMS_TYPES
            and len(attached) < MMS_MAX_FILES
            and item.size is not None
            and total + size <= MMS_MAX_BYTES
        )
        if fits:
            attached.append(item)
            total += size
        else:
            linked.append(item)
    return attached, linked


def _whatsapp(request: RenderRequest, media_url: Callable[[str], str]) -> Rendering:
    attachable = [m for m in request.media if m.size is not None and m.size <= WHATSAPP_MAX_BYTES]
    linked = [m for m in request.media if m not in attachable]
    text = _with_links(_text(request), [media_url(item.sid) for item in linked])
    bodies = sms.split_body(text) if text else []
    sends: list[OutboundMessage] = []
    for index in range(max(len(bodies), len(attachable))):
        body = bodies[index] if index < len(bodies) else None
        media = [media_url(attachable[index].sid)] if index < len(attachable) else []
        sends.append(_outbound(request, body, media))
    return Rendering(sends)


def _outbound(
    request: RenderRequest, body: str | None, media_urls: list[str], content: bool = False
) -> OutboundMessage:
    return OutboundMessage(
        from_address=request.proxy_address,
        to_address=request.address,
        body=body,
        media_urls=media_urls,
        status_callback=request.status_callback,
        content_sid=request.content_sid if content else None,
        content_variables=request.content_variables if content else None,
        reference=request.reference,
    )

"""Twilsock v3 framing: `TWILSOCK V3.0 <H>\\r\\n<header JSON, H bytes>\\r\\n<payload, header.payload_size bytes>`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bridge import jsontext

MAGIC = b"TWILSOCK V3.0 "
MAX_HEADER = 64 * 1024


class FrameError(ValueError):
    """A frame that is not twilsock v3."""


@dataclass(frozen=True)
class Frame:
    header: dict[str, Any]
    payload: str

    @property
    def method(self) -> str:
        return str(self.header.get("method") or "")

    @property
    def id(self) -> str:
        return str(self.header.get("id") or "")

    def json_payload(self) -> Any:
        return jsontext.loads(self.payload) if self.payload else None


def decode(data: bytes | str) -> Frame:
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if not raw.startswith(MAGIC):
        raise FrameError("not a TWILSOCK V3.0 frame")
    line_end = raw.find(b"\r\n")
    if line_end < 0:
        raise FrameError("no end of the first line")
    try:
        header_size = int(raw[len(MAGIC) : line_end])
    except ValueError:
        raise FrameError("the header size is not a number") from None
    if not 0 < header_size <= MAX_HEADER:
        raise FrameError("the header size is out of range")
    start = line_end + 2
    try:
        header = jsontext.loads(raw[start : start + header_size])
    except (ValueError, UnicodeDecodeError):
        raise FrameError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise FrameError("the header is not a JSON object")
    size = header.get("payload_size", 0)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise FrameError("payload_size is not a size")
    payload_start = start + header_size + 2
    if size and (raw[start + header_size : payload_start] != b"\r\n" or len(raw) < payload_start + size):
        raise FrameError("the payload is shorter than payload_size")
    try:
        payload = raw[payload_start : payload_start + size].decode() if size else ""
    except UnicodeDecodeError:
        raise FrameError("the payload is not UTF-8") from None
    return Frame(header, payload)


def encode(header: dict[str, Any], payload: Any = None) -> bytes:
    if payload is None:
        body = b""
    elif isinstance(payload, str):
        body = payload.encode()
    else:
        body = json.dumps(payload, separators=(",", ":")).encode()
    header = {**header, "payload_size": len(body)}
    if body and "payload_type" not in header:
        header["payload_type"] = "application/json"
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + str(len(head)).encode() + b"\r\n" + head + b"\r\n" + body

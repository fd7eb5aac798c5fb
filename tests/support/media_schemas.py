"""Response schemas for the Media Content Service subset (`/v1/Services/{IS}/Media...`), which the
Conversations spec lacks. Written from Twilio's Media resource documentation and real MCS responses.
"""

from __future__ import annotations

from typing import Any

# The `Content` operation answers with the file itself: any content type, any bytes (OpenAPI's binary string).
BINARY_BODY: dict[str, Any] = {"type": "string", "format": "binary"}


def _sid(prefix: str, nullable: bool = True) -> dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", "pattern": f"^{prefix}[0-9a-fA-F]{{32}}$"}


_DATE = {"type": ["string", "null"], "format": "date-time"}
_URL = {"type": "string", "format": "uri"}

MEDIA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sid": _sid("ME", nullable=False),
        "account_sid": _sid("AC", nullable=False),
        "service_sid": _sid("IS", nullable=False),
        "date_created": _DATE,
        "date_updated": _DATE,
        "channel_sid": _sid("CH"),
        "message_sid": _sid("IM"),
        "size": {"type": ["integer", "null"], "minimum": 0},
        "content_type": {"type": "string", "pattern": r"^[a-z0-9][^/\s]*/[^/\s]+"},
        "filename": {"type": ["string", "null"], "maxLength": 256},
        "author": {"type": ["string", "null"]},
        "category": {"enum": ["media"]},
        "url": _URL,
        "links": {
            "type": "object",
            "properties": {
                "content": _URL,
                "content_direct_temporary": {"type": ["string", "null"], "format": "uri"},
            },
            "required": ["content", "content_direct_temporary"],
        },
    },
}
MEDIA["required"] = sorted(MEDIA["properties"])

_MEDIA = "/v1/Services/{ChatServiceSid}/Media"
MEDIA_OPERATIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", _MEDIA, "CreateMedia", {"201": MEDIA}),
    ("GET", _MEDIA + "/{Sid}", "FetchMedia", {"200": MEDIA}),
    ("GET", _MEDIA + "/{Sid}/Content", "FetchMediaContent", {"200": BINARY_BODY}),
]

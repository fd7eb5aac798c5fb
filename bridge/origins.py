"""Which web pages may use the bridge from a browser: the chat socket and the media service check the `Origin` a
browser sends with every WebSocket handshake and cross-origin request.

The access token is what authenticates a client; the Origin check stops a page of another site that obtained one
(or a user's browser tricked into using one) from talking to the bridge as that user. Clients that are not
browsers (the SDK under Node, mobile apps) send no Origin and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bridge.config import Settings

ANY = "*"


def own_origin(settings: Settings) -> str:
    """The origin of the bridge's public URL: its own pages (the web chat at /chat) are always allowed."""
    parts = urlsplit(settings.public_base_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(settings: Settings, origin: str | None) -> bool:
    """True for no Origin (not a browser), the bridge's own origin, and those in BRIDGE_ALLOWED_ORIGINS."""
    if not origin:
        return True
    origin = origin.strip().rstrip("/").lower()
    return origin == own_origin(settings) or ANY in settings.allowed_origins or origin in settings.allowed_origins

"""The web chat page's Content-Security-Policy: its own scripts and styles only, and connections only to the
bridge itself, its chat socket and its media service (which may be on another host when the bridge sits behind
proxies); media shown inline comes from the media service or from the page's own blob:/data: URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

from bridge.config import Settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    media = _origin(settings.public_base_url)  # MCS links and temporary content URLs are under the public URL
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "connect-src": f"'self' {settings.public_gateway_url} {media}",
        "img-src": f"'self' blob: data: {media}",
        "media-src": f"'self' blob: {media}",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "object-src": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())

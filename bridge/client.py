"""Point the official `twilio` package at a bridge instead of Twilio, unmodified.

    from bridge.client import bridge_client
    client = bridge_client("http://127.0.0.1:5000", "AC...", "token")
    client.conversations.v1.conversations.create(friendly_name="Support")

The only glue is an HttpClient that rewrites Twilio's hosts to the bridge: `conversations.twilio.com`
to `<bridge>` and `messaging.twilio.com` to `<bridge>/messaging`. Page URLs the bridge returns already
point at the bridge, so they pass through untouched.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

# Twilio host -> path prefix on the bridge.
REWRITES = {
    "conversations.twilio.com": "",
    "messaging.twilio.com": "/messaging",
}


class BridgeHttpClient(TwilioHttpClient):
    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = urlsplit(base_url.rstrip("/"))

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        prefix = REWRITES.get(parts.hostname or "")
        if prefix is None:
            return url
        path = self.base.path + prefix + parts.path
        return urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, parts.fragment))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rewrite(url), *args, **kwargs)


def bridge_client(base_url: str, username: str, password: str, account_sid: str | None = None) -> Client:
    """A twilio `Client` talking to the bridge at `base_url` (account SID + token, or API key + secret)."""
    return Client(username, password, account_sid=account_sid, http_client=BridgeHttpClient(base_url))

"""Twilio Programmable Messaging, through the `twilio` package (`POST /2010-04-01/Accounts/{AC}/Messages.json`)."""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bridge.carriers.base import TIMEOUT, UNREACHABLE, CarrierError, OutboundMessage, SendResult, classify

DEFAULT_API_BASE_URL = "https://api.twilio.com"
# twilio's HTTP client logs request parameters (numbers, bodies) at INFO.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


class _RoutedHttpClient(TwilioHttpClient):
    """Sends api.twilio.com requests to the configured base URL and remembers the last response's headers."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url.rstrip("/"))
        self.last_headers: dict[str, str] = {}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        if parts.hostname == "api.twilio.com":
            url = urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, ""))
        response = super().request(method, url, *args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


def _retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


class TwilioCarrier:
    name = "twilio"

    def __init__(
        self, account_sid: str, auth_token: str, api_base_url: str = DEFAULT_API_BASE_URL, timeout: float = 10
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_base_url = api_base_url
        self.timeout = timeout
        self._local = threading.local()  # one client (and connection pool) per worker thread

    def _client(self) -> tuple[Client, _RoutedHttpClient]:
        if not hasattr(self._local, "client"):
            http = _RoutedHttpClient(self.api_base_url, self.timeout)
            self._local.http = http
            self._local.client = Client(self.account_sid, self.auth_token, http_client=http)
        return self._local.client, self._local.http

    def send(self, message: OutboundMessage) -> SendResult:
        client, http = self._client()
        params: dict[str, Any] = {"to": message.to_address, "from_": message.from_address}
        if message.content_sid:
            params["content_sid"] = message.content_sid
            if message.content_variables:
                params["content_variables"] = message.content_variables
        else:
            if message.body:
                params["body"] = message.body
            if message.media_urls:
                params["media_url"] = list(message.media_urls)
        if message.status_callback:
            params["status_callback"] = message.status_callback
        try:
            created = client.api.v2010.accounts(self.account_sid).messages.create(**params)
        except TwilioRestException as exc:
            raise classify(exc.status, exc.code, str(exc.msg), _retry_after(http.last_headers)) from None
        except requests.Timeout:
            raise CarrierError(TIMEOUT, "carrier timed out", retryable=True) from None
        except requests.RequestException as exc:
            raise CarrierError(UNREACHABLE, f"carrier unreachable: {type(exc).__name__}", retryable=True) from None
        if not created.sid:
            raise CarrierError(UNREACHABLE, "carrier answered without a message SID", retryable=True)
        return SendResult(created.sid, created.status or "queued")

"""Twilio Programmable Messaging, through the `twilio` package (`POST /2010-04-01/Accounts/{AC}/Messages.json`), and
what the account holds: its phone numbers (`IncomingPhoneNumbers`), its WhatsApp senders (the Senders API,
`messaging.twilio.com/v2/Channels/Senders`) and its Messaging Services with their senders
(`messaging.twilio.com/v1/Services/{MG}/PhoneNumbers` and `/ChannelSenders`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from bridge import jsontext
from bridge.carriers.base import (
    TIMEOUT,
    UNREACHABLE,
    AccountNumber,
    AccountService,
    CarrierError,
    CarrierRecord,
    Inventory,
    OutboundMessage,
    SendResult,
    accepted_earlier,
    classify,
)
from bridge.timeutil import retry_after_seconds

DEFAULT_API_BASE_URL = "https://api.twilio.com"
API_HOST, MESSAGING_HOST = "api.twilio.com", "messaging.twilio.com"
# A WhatsApp sender in these states sends; the others (CREATING, OFFLINE, TWILIO_REVIEW, ...) cannot yet, or no more.
WHATSAPP_SENDING = ("ONLINE", "ONLINE:UPDATING")
# Messages a lookup reads, newest first: the bridge sends one at a time per recipient, so the one in doubt is
# among the most recent to that (To, From) pair.
LOOKUP_PAGE = 20
# twilio's HTTP client logs request parameters (numbers, bodies) at INFO.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


class _RoutedHttpClient(TwilioHttpClient):
    """Sends api.twilio.com requests to the configured base URL and remembers the last response's headers.
    A base URL other than Twilio's own (a test double, a proxy) serves messaging.twilio.com's paths too."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url.rstrip("/"))
        self.routed_hosts = (API_HOST,) if self.base.hostname == API_HOST else (API_HOST, MESSAGING_HOST)
        self.last_headers: dict[str, str] = {}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        if parts.hostname in self.routed_hosts:
            url = urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, ""))
        response = super().request(method, url, *args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


def _retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            return retry_after_seconds(value)
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
        with _carrier_errors(http):
            created = client.api.v2010.accounts(self.account_sid).messages.create(**params)
        if not created.sid:
            raise CarrierError(UNREACHABLE, "carrier answered without a message SID", retryable=True)
        return SendResult(created.sid, created.status or "queued")

    def find_accepted(self, message: OutboundMessage, since: datetime, known: frozenset[str]) -> str | None:
        """Twilio's Message list filtered by To and From (newest first); `accepted_earlier` picks the one."""
        client, http = self._client()
        with _carrier_errors(http):
            listed = client.api.v2010.accounts(self.account_sid).messages.list(
                to=message.to_address, from_=message.from_address, limit=LOOKUP_PAGE
            )
            records = [
                CarrierRecord(item.sid or "", item.to or "", item.from_ or "", item.body, item.date_created)
                for item in listed
            ]
        return accepted_earlier(records, message, since, known)

    def inventory(self) -> Inventory:
        """Every page of each list (the client follows next_page_uri / meta.next_page_url). Numbers that can send
        neither SMS nor MMS (voice or fax only) cannot be a proxy address and are left out."""
        client, http = self._client()
        with _carrier_errors(http):
            numbers = [
                AccountNumber(item.phone_number or "", item.sid)
                for item in client.api.v2010.accounts(self.account_sid).incoming_phone_numbers.stream()
                if _can_message(item.capabilities)
            ]
            numbers += [
                AccountNumber(item.sender_id or "", item.sid)
                for item in client.messaging.v2.channels_senders.stream(channel="whatsapp")
                if item.status in WHATSAPP_SENDING
            ]
            services = []
            for service in client.messaging.v1.services.stream():
                pool = client.messaging.v1.services(service.sid)
                senders = [item.phone_number or "" for item in pool.phone_numbers.stream()]
                senders += [item.sender or "" for item in pool.channel_senders.stream() if _is_whatsapp(item.sender)]
                services.append(AccountService(service.sid or "", service.friendly_name or "", tuple(senders)))
        return Inventory(tuple(numbers), tuple(services))


def _can_message(capabilities: Any) -> bool:
    if not isinstance(capabilities, dict):
        return True  # not said: Twilio lists capabilities for every number, so assume it can
    return bool(capabilities.get("sms") or capabilities.get("mms"))


def _is_whatsapp(sender: str | None) -> bool:
    """A service's channel senders may also be Messenger or RCS senders, which are no phone proxy address."""
    return bool(sender) and str(sender).lower().startswith("whatsapp:")


@contextmanager
def _carrier_errors(http: _RoutedHttpClient) -> Iterator[None]:
    """Twilio's and the network's failures as CarrierErrors. A send that timed out, or whose connection broke
    after it was written, may have been accepted all the same; one that never connected was not."""
    try:
        yield
    except TwilioRestException as exc:
        raise classify(exc.status, exc.code, str(exc.msg), _retry_after(http.last_headers)) from None
    except TwilioException as exc:  # a list page that came back as an error: ("Unable to fetch page", response)
        raise _page_error(exc, http) from None
    except requests.ConnectTimeout:
        raise CarrierError(UNREACHABLE, "carrier unreachable: ConnectTimeout", retryable=True) from None
    except requests.Timeout:
        raise CarrierError(TIMEOUT, "carrier timed out", retryable=True, maybe_accepted=True) from None
    except requests.RequestException as exc:
        never_connected = isinstance(exc, requests.ConnectionError) and _refused(exc)
        raise CarrierError(
            UNREACHABLE,
            f"carrier unreachable: {type(exc).__name__}",
            retryable=True,
            maybe_accepted=not never_connected,
        ) from None


def _page_error(exc: TwilioException, http: _RoutedHttpClient) -> CarrierError:
    response = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], Response) else None
    if response is None:
        return CarrierError(UNREACHABLE, f"carrier error: {exc}", retryable=True)
    try:
        body = jsontext.loads(response.text)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("code") if isinstance(body.get("code"), int) else None
    message = str(body.get("message") or f"HTTP {response.status_code}")
    return classify(response.status_code, code, message, _retry_after(http.last_headers))


def _refused(exc: requests.ConnectionError) -> bool:
    """The connection was never made (refused, no route, DNS), so nothing was sent."""
    reason = exc.args[0] if exc.args else None
    return isinstance(getattr(reason, "reason", reason), NewConnectionError)

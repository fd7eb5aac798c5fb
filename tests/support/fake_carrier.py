"""A fake Twilio Messaging API on loopback: `POST /2010-04-01/Accounts/{AC}/Messages.json` to send and
`GET` of the same path to list (filtered by `To` and `From`, newest first, Twilio's paging envelope), with Basic
auth, Twilio's JSON and error bodies, and signed status callbacks posted back to each message's StatusCallback.

It also holds an account (`account`: numbers, WhatsApp senders, messaging services) and lists it as Twilio does:
`GET /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json` (paged by `next_page_uri`), and messaging.twilio.com's
`/v2/Channels/Senders`, `/v1/Services`, `/v1/Services/{MG}/PhoneNumbers` and `/v1/Services/{MG}/ChannelSenders`
(paged by `meta.next_page_url`, absolute URLs on messaging.twilio.com as Twilio writes them).

It is the one part of the outside world the tests fake. Knobs let a test make it fail (5xx, 429 with
Retry-After, per-number 4xx, slow answers, an answer that comes after the message was accepted), duplicate or
reorder callbacks, and count what it received.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tests.support.live import free_port


@dataclass(frozen=True)
class Send:
    sid: str
    from_address: str
    to_address: str
    body: str | None
    media_urls: list[str]
    status_callback: str | None
    content_sid: str | None
    content_variables: str | None
    received_at: float
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Failure:
    status: int
    code: int
    message: str
    retry_after: float | None = None


@dataclass
class AccountService:
    sid: str
    friendly_name: str
    senders: list[str] = field(default_factory=list)  # +E164 (PhoneNumbers) or whatsapp:+E164 (ChannelSenders)


@dataclass
class Account:
    """What the carrier account holds, as a test sets it."""

    numbers: list[str] = field(default_factory=list)  # +E164, SMS- and MMS-capable
    voice_only: list[str] = field(default_factory=list)  # numbers that cannot message
    whatsapp: dict[str, str] = field(default_factory=dict)  # whatsapp:+E164 -> status (ONLINE, OFFLINE, ...)
    services: list[AccountService] = field(default_factory=list)

    def add_service(self, friendly_name: str, senders: list[str]) -> AccountService:
        service = AccountService("MG" + uuid.uuid4().hex, friendly_name, senders)
        self.services.append(service)
        return service


def resource_sid(prefix: str, address: str) -> str:
    """A stable SID per address, as Twilio's never change."""
    return prefix + uuid.uuid5(uuid.NAMESPACE_URL, address).hex


MESSAGING_BASE = "https://messaging.twilio.com"


@dataclass
class FakeCarrier:
    account_sid: str = "AC" + "fa" * 16
    auth_token: str = "fake-carrier-auth-token-000000"
    callback_statuses: tuple[str, ...] = ("sent", "delivered")
    callback_delay: float = 0.05
    duplicate_callbacks: bool = False
    reverse_callbacks: bool = False
    send_delay: float = 0.0
    answer_delay: float = 0.0  # after accepting a send: the message exists, the answer comes this much later
    lookups: int = 0  # Message list requests served
    lookup_failure: Failure | None = None
    sends: list[Send] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    failures_by_number: dict[str, Failure] = field(default_factory=dict)
    outage: Failure | None = None
    policy: Callable[[dict[str, Any]], Failure | None] | None = None
    callback_errors: int = 0
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (bytes, content type)
    media_fetches: Counter[str] = field(default_factory=Counter)  # path -> authorised fetches
    account: Account = field(default_factory=Account)
    inventory_requests: Counter[str] = field(default_factory=Counter)  # path -> pages served
    inventory_failure: Failure | None = None
    sends_in_flight: int = 0  # send requests being answered now
    most_sends_in_flight: int = 0  # the most there were at once since the last reset

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.validator = RequestValidator(self.auth_token)
        self.callbacks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-carrier-callbacks")
        self.port = free_port()
        self.server: BaseWSGIServer = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-carrier", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.callbacks.shutdown(wait=True, cancel_futures=True)

    def reset(self) -> None:
        with self.lock:
            self.sends.clear()
            self.rejected.clear()
            self.failures_by_number.clear()
            self.media.clear()
            self.media_fetches.clear()
        self.outage = None
        self.policy = None
        self.send_delay = 0.0
        self.answer_delay = 0.0
        self.lookups = 0
        self.lookup_failure = None
        self.duplicate_callbacks = False
        self.reverse_callbacks = False
        self.callback_statuses = ("sent", "delivered")
        self.account = Account()
        self.inventory_requests.clear()
        self.inventory_failure = None
        self.most_sends_in_flight = 0

    # -- what tests read --------------------------------------------------------------------------------

    def sent_to(self, address: str) -> list[Send]:
        with self.lock:
            return [s for s in self.sends if s.to_address == address]

    def snapshot(self) -> list[Send]:
        with self.lock:
            return list(self.sends)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Send]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.snapshot()
            if len(current) >= count:
                return current
            time.sleep(0.05)
        raise AssertionError(f"fake carrier received {len(self.snapshot())} sends, expected {count}")

    # -- the API -----------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path in self.media:
            return self._serve_media(request)
        if request.method == "GET" and self._inventory_path(request.path):
            if not self._authorized(request):
                return self._error(Failure(401, 20003, "Authenticate"))
            return self._inventory(request)
        expected_path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if request.method not in ("GET", "POST") or request.path != expected_path:
            return self._error(Failure(404, 20404, f"The requested resource {request.path} was not found"))
        if not self._authorized(request):
            return self._error(Failure(401, 20003, "Authenticate"))
        if request.method == "GET":
            return self._list(request)
        with self.lock:
            self.sends_in_flight += 1
            self.most_sends_in_flight = max(self.most_sends_in_flight, self.sends_in_flight)
        try:
            return self._send(request)
        finally:
            with self.lock:
                self.sends_in_flight -= 1

    def _send(self, request: Request) -> Response:
        form = request.form
        params = {key: form.getlist(key) if len(form.getlist(key)) > 1 else form[key] for key in form}
        if self.send_delay:
            time.sleep(self.send_delay)
        failure = self.outage or self.failures_by_number.get(form.get("To", ""))
        if failure is None and self.policy is not None:
            failure = self.policy(params)
        if failure is not None:
            with self.lock:
                self.rejected.append(params)
            return self._error(failure)
        media = form.getlist("MediaUrl")
        sid = ("MM" if media else "SM") + uuid.uuid4().hex
        send = Send(
            sid=sid,
            from_address=form.get("From", ""),
            to_address=form.get("To", ""),
            body=form.get("Body"),
            media_urls=media,
            status_callback=form.get("StatusCallback"),
            content_sid=form.get("ContentSid"),
            content_variables=form.get("ContentVariables"),
            received_at=time.monotonic(),
        )
        with self.lock:
            self.sends.append(send)
        if send.status_callback:
            self.callbacks.submit(self._post_callbacks, send)
        if self.answer_delay:
            time.sleep(self.answer_delay)
        return Response(json.dumps(self._resource(send)), status=201, mimetype="application/json")

    def _list(self, request: Request) -> Response:
        """Twilio's Message list: `To` and `From` filters, newest first, one page of `PageSize`."""
        with self.lock:
            self.lookups += 1
            sends = list(self.sends)
        if self.lookup_failure is not None:
            return self._error(self.lookup_failure)
        to, sender = request.args.get("To"), request.args.get("From")
        size = min(int(request.args.get("PageSize", "50")), 1000)
        chosen = [
            s for s in sends if (to is None or s.to_address == to) and (sender is None or s.from_address == sender)
        ]
        page = [self._resource(s) for s in reversed(chosen)][:size]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json?PageSize={size}&Page=0"
        envelope = {
            "messages": page,
            "end": max(len(page) - 1, 0),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }
        return Response(json.dumps(envelope), status=200, mimetype="application/json")

    # -- the account's numbers and messaging services -----------------------------------------------------------

    def _inventory_path(self, path: str) -> bool:
        return path == f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json" or path.startswith(
            ("/v1/Services", "/v2/Channels/Senders")
        )

    def _inventory(self, request: Request) -> Response:
        with self.lock:
            self.inventory_requests[request.path] += 1
        if self.inventory_failure is not None:
            return self._error(self.inventory_failure)
        path, account = request.path, self.account
        if path.endswith("/IncomingPhoneNumbers.json"):
            return self._v2010_page(request, "incoming_phone_numbers", self._incoming_numbers())
        if path == "/v2/Channels/Senders":
            if request.args.get("Channel") != "whatsapp":
                return self._error(Failure(400, 20001, "Channel must be whatsapp"))
            senders = [self._channels_sender(address, status) for address, status in account.whatsapp.items()]
            return self._meta_page(request, "senders", senders)
        if path == "/v1/Services":
            return self._meta_page(request, "services", [self._service(s) for s in account.services])
        parts = path.split("/")  # ["", "v1", "Services", MG, "PhoneNumbers" | "ChannelSenders"]
        service = next((s for s in account.services if len(parts) == 5 and s.sid == parts[3]), None)
        if service is None or parts[4] not in ("PhoneNumbers", "ChannelSenders"):
            return self._error(Failure(404, 20404, f"The requested resource {path} was not found"))
        if parts[4] == "PhoneNumbers":
            numbers = [self._service_number(service, a) for a in service.senders if not a.startswith("whatsapp:")]
            return self._meta_page(request, "phone_numbers", numbers)
        channel = [self._channel_sender(service, a) for a in service.senders if a.startswith("whatsapp:")]
        return self._meta_page(request, "senders", channel)

    def _page_of(self, request: Request, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int]:
        size = max(1, min(int(request.args.get("PageSize", "50")), 1000))
        page = int(request.args.get("Page", "0"))
        return items[page * size : (page + 1) * size], page, size

    def _v2010_page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
        """The 2010 API's envelope: relative `*_page_uri`s, the next one null on the last page."""
        chosen, page, size = self._page_of(request, items)

        def uri(number: int) -> str:
            return f"{request.path}?{urlencode({'PageSize': size, 'Page': number})}"

        more = (page + 1) * size < len(items)
        envelope = {
            key: chosen,
            "end": page * size + max(len(chosen) - 1, 0),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1) if page else None,
            "start": page * size,
            "uri": uri(page),
        }
        return Response(json.dumps(envelope), status=200, mimetype="application/json")

    def _meta_page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
        """The newer APIs' envelope: `meta` with absolute URLs and the key of the list."""
        chosen, page, size = self._page_of(request, items)
        query = {k: v for k, v in request.args.items() if k not in ("Page", "PageSize")}

        def url(number: int) -> str:
            return f"{MESSAGING_BASE}{request.path}?{urlencode({**query, 'PageSize': size, 'Page': number})}"

        more = (page + 1) * size < len(items)
        meta = {
            "page": page,
            "page_size": size,
            "first_page_url": url(0),
            "previous_page_url": url(page - 1) if page else None,
            "url": url(page),
            "next_page_url": url(page + 1) if more else None,
            "key": key,
        }
        return Response(json.dumps({key: chosen, "meta": meta}), status=200, mimetype="application/json")

    def _incoming_numbers(self) -> list[dict[str, Any]]:
        owned = [(a, True) for a in self.account.numbers] + [(a, False) for a in self.account.voice_only]
        base = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers"
        return [
            {
                "sid": resource_sid("PN", address),
                "account_sid": self.account_sid,
                "friendly_name": address,
                "phone_number": address,
                "capabilities": {"voice": True, "sms": messages, "mms": messages, "fax": False},
                "status": "in-use",
                "api_version": "2010-04-01",
                "uri": f"{base}/{resource_sid('PN', address)}.json",
            }
            for address, messages in owned
        ]

    def _channels_sender(self, address: str, status: str) -> dict[str, Any]:
        sid = resource_sid("XE", address)
        return {
            "sid": sid,
            "status": status,
            "sender_id": address,
            "configuration": {"waba_id": "12345678912345678"},
            "profile": {"name": "Example"},
            "url": f"{MESSAGING_BASE}/v2/Channels/Senders/{sid}",
        }

    def _service(self, service: AccountService) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "sid": service.sid,
            "friendly_name": service.friendly_name,
            "url": f"{MESSAGING_BASE}/v1/Services/{service.sid}",
            "links": {
                "phone_numbers": f"{MESSAGING_BASE}/v1/Services/{service.sid}/PhoneNumbers",
                "channel_senders": f"{MESSAGING_BASE}/v1/Services/{service.sid}/ChannelSenders",
            },
        }

    def _service_number(self, service: AccountService, address: str) -> dict[str, Any]:
        sid = resource_sid("PN", address)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "service_sid": service.sid,
            "phone_number": address,
            "country_code": "US",
            "capabilities": ["SMS", "MMS"],
            "url": f"{MESSAGING_BASE}/v1/Services/{service.sid}/PhoneNumbers/{sid}",
        }

    def _channel_sender(self, service: AccountService, address: str) -> dict[str, Any]:
        sid = resource_sid("XE", address)
        return {
            "account_sid": self.account_sid,
            "messaging_service_sid": service.sid,
            "sid": sid,
            "sender": address,
            "sender_type": "WhatsApp",
            "country_code": "US",
            "url": f"{MESSAGING_BASE}/v1/Services/{service.sid}/ChannelSenders/{sid}",
        }

    def add_media(self, data: bytes, content_type: str) -> str:
        """Media of an inbound message, kept by the carrier behind its Basic auth, as Twilio does."""
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages/MM{uuid.uuid4().hex}/Media/ME{uuid.uuid4().hex}"
        self.media[path] = (data, content_type)
        return self.url + path

    def _serve_media(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(Failure(401, 20003, "Authenticate"))
        data, content_type = self.media[request.path]
        with self.lock:
            self.media_fetches[request.path] += 1
        return Response(data, status=200, mimetype=content_type)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == expected

    def _error(self, failure: Failure) -> Response:
        body = {
            "code": failure.code,
            "message": failure.message,
            "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
            "status": failure.status,
        }
        response = Response(json.dumps(body), status=failure.status, mimetype="application/json")
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(int(failure.retry_after))
        return response

    def _resource(self, send: Send) -> dict[str, Any]:
        return {
            "sid": send.sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "from": send.from_address,
            "to": send.to_address,
            "body": send.body,
            "status": "queued",
            "direction": "outbound-api",
            "date_created": format_datetime(send.created_at),
            "num_media": str(len(send.media_urls)),
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{send.sid}.json",
        }

    def _post_callbacks(self, send: Send) -> None:
        statuses = list(self.callback_statuses)
        if self.reverse_callbacks:
            statuses.reverse()
        if self.duplicate_callbacks:
            statuses = [status for status in statuses for _ in range(2)]
        for status in statuses:
            time.sleep(self.callback_delay)
            self.post_status(send, status)

    def post_status(self, send: Send, status: str, error_code: int | None = None) -> int:
        params = {
            "AccountSid": self.account_sid,
            "MessageSid": send.sid,
            "SmsSid": send.sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "From": send.from_address,
            "To": send.to_address,
            "ApiVersion": "2010-04-01",
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        url = send.status_callback or ""
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params)}
        try:
            return requests.post(url, data=params, headers=headers, timeout=10).status_code
        except requests.RequestException:
            with self.lock:
                self.callback_errors += 1
            return 0

    # -- inbound, as Twilio posts it -------------------------------------------------------------------------

    def inbound_params(
        self,
        from_address: str,
        to_address: str,
        body: str,
        message_sid: str | None = None,
        media: list[tuple[str, str]] | None = None,
        **extra: str,
    ) -> dict[str, str]:
        sid = message_sid or "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": from_address,
            "To": to_address,
            "Body": body,
            "NumMedia": str(len(media or [])),
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        for n, (url, content_type) in enumerate(media or []):
            params[f"MediaUrl{n}"] = url
            params[f"MediaContentType{n}"] = content_type
        params.update(extra)
        return params

    def post_inbound(self, bridge_url: str, params: dict[str, str], signature: str | None = None) -> requests.Response:
        url = f"{bridge_url}/webhooks/twilio/inbound"
        header = signature if signature is not None else self.validator.compute_signature(url, params)
        return requests.post(url, data=params, headers={"X-Twilio-Signature": header}, timeout=30)

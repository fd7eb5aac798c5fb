"""What the gateway fuzz tests and their regressions share: a world of services, users and conversations on the
session's live bridge, a real gateway in this process, bare twilsock clients, and the gateway's logged errors."""

from __future__ import annotations

import json
import logging
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import select
from websockets.sync.client import connect

from bridge import access_tokens, accounts
from bridge.models import Conversation, Participant
from gateway.frames import MAGIC, Frame
from gateway.server import Options
from tests.support.gateway import LiveGateway, start_gateway
from tests.support.live import LiveBridge
from tests.support.twilsock_client import RawClient

IDENTITY = "alice"
# No rate limit and no pings in the way: the flood and keep-alive paths have tests of their own.
FUZZ_OPTIONS = Options(ping_seconds=3600, poll_seconds=0.3, rate=1e6, burst=10**6, token_warning_seconds=0)


class Client(RawClient):
    """The bare client without its keepalive thread (which would draw from `random` while Hypothesis generates)."""

    def __init__(self, url: str) -> None:
        self.socket = connect(url, open_timeout=10, max_size=4 * 1024 * 1024, ping_interval=None)
        self.notifications = []


def request_id() -> str:
    return "TM" + str(uuid.uuid4())


def raw_frame(header: dict[str, Any], body: bytes = b"", payload_size: Any = None) -> bytes:
    """A frame as written by hand: `payload_type` only if the header has one, `payload_size` as given."""
    header = {**header, "payload_size": len(body) if payload_size is None else payload_size}
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + str(len(head)).encode() + b"\r\n" + head + b"\r\n" + body


def message_frame(http: Any, body: str = "", payload_type: str | None = "application/json") -> tuple[str, bytes]:
    rid = request_id()
    header: dict[str, Any] = {"id": rid, "method": "message", "active_grant": "ip_messaging", "http_request": http}
    if payload_type is not None:
        header["payload_type"] = payload_type
    return rid, raw_frame(header, body.encode())


def configuration_frame() -> tuple[str, bytes]:
    http = {"host": "aim.us1.twilio.com", "path": "/Client/v2/Configuration", "method": "GET", "params": {},
            "headers": {}}  # fmt: skip
    return message_frame(http, payload_type=None)


def upstream(client: RawClient, http: Any, body: Any = None, timeout: float = 5.0, **kwargs: Any) -> Frame:
    """One upstream request with a JSON body (or a string as it is); its reply frame."""
    text = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    rid, frame = message_frame(http, text, **kwargs)
    client.socket.send(frame)
    return client.reply_to(rid, timeout)


def http_status(reply: Frame) -> int:
    return int((reply.header.get("http_status") or {}).get("code") or 0)


@dataclass
class World:
    live: LiveBridge
    gateway: LiveGateway
    service: str
    service_id: int
    key_sid: str
    key_secret: str
    http: requests.Session
    other_service: str = ""
    ours: str = ""  # alice and bob take part; the fuzzer may delete it (then it is made again)
    theirs: str = ""  # bob and carol's: alice may not touch it
    elsewhere: str = ""  # alice takes part, but in another service (her token is for the default one)
    messages: dict[str, str] = field(default_factory=dict)  # conversation role -> one message SID in it
    participants: dict[str, list[str]] = field(default_factory=dict)  # conversation role -> participant SIDs
    users: dict[str, str] = field(default_factory=dict)  # identity -> user SID, default service
    other_users: dict[str, str] = field(default_factory=dict)  # identity -> user SID, other service

    def token(self, identity: str = IDENTITY, service_sid: str | None = None, ttl: int = 3600) -> str:
        return access_tokens.mint(
            self.live.account_sid, self.key_sid, self.key_secret, identity, service_sid or self.service, ttl
        )

    def connect(self, identity: str = IDENTITY) -> Client:
        client = Client(self.gateway.url)
        reply = client.init(self.token(identity))
        assert reply.header["status"]["code"] == 200, reply.header
        return client

    def rest(self, method: str, path: str, data: Any = None) -> dict[str, Any]:
        response = self.http.request(method, self.live.url + path, data=data, timeout=30)
        assert response.status_code in (200, 201, 204), f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def collection(self, role: str) -> str:
        return f"/v1/Services/{self.other_service}/Conversations" if role == "elsewhere" else "/v1/Conversations"

    def conversation(self, role: str) -> str:
        return {"ours": self.ours, "theirs": self.theirs, "elsewhere": self.elsewhere}[role]

    def make_conversation(
        self, collection: str, name: str, unique_name: str | None, identities: list[str]
    ) -> tuple[str, str, list[str]]:
        form = {"FriendlyName": name, **({"UniqueName": unique_name} if unique_name else {})}
        sid = self.rest("POST", collection, form)["sid"]
        members = [self.rest("POST", f"{collection}/{sid}/Participants", {"Identity": i})["sid"] for i in identities]
        message = self.rest("POST", f"{collection}/{sid}/Messages", {"Author": identities[-1], "Body": "hello"})
        return sid, message["sid"], members

    def repair(self) -> None:
        """The fuzzer may delete `ours` or leave it: alice and bob are back in a conversation for the next case."""
        with self.live.database.transaction() as session:
            conversation = session.scalar(select(Conversation).where(Conversation.sid == self.ours))
            joined = conversation is not None and (
                session.scalar(
                    select(Participant.id).where(
                        Participant.conversation_id == conversation.id, Participant.identity == IDENTITY
                    )
                )
                is not None
            )
        if not joined:
            self.ours, self.messages["ours"], self.participants["ours"] = self.make_conversation(
                "/v1/Conversations", "ours again", None, [IDENTITY, "bob"]
            )


@contextmanager
def world_on(bridge: LiveBridge) -> Iterator[World]:
    """A first-start database; two services, alice, bob and carol in both; ours, theirs and elsewhere; a gateway."""
    bridge.reset()
    with bridge.database.transaction() as session:
        key = accounts.create_api_key(session, "gateway fuzz")
        service = accounts.default_service(session)
        key_sid, key_secret, service_sid, service_id = key.sid, key.secret, service.sid, service.id
    http = requests.Session()
    http.auth = (bridge.account_sid, bridge.auth_token)
    live_gateway = start_gateway(bridge.settings, bridge.database, FUZZ_OPTIONS)
    w = World(bridge, live_gateway, service_sid, service_id, key_sid, key_secret, http)
    try:
        w.other_service = w.rest("POST", "/v1/Services", {"FriendlyName": "elsewhere"})["sid"]
        for identity in (IDENTITY, "bob", "carol"):
            w.users[identity] = w.rest("POST", "/v1/Users", {"Identity": identity, "FriendlyName": identity})["sid"]
            w.other_users[identity] = w.rest("POST", f"/v1/Services/{w.other_service}/Users", {"Identity": identity})[
                "sid"
            ]
        for role, unique_name, identities in (
            ("ours", "ours-room", [IDENTITY, "bob"]),
            ("theirs", "theirs-room", ["bob", "carol"]),
            ("elsewhere", "elsewhere-room", [IDENTITY, "bob"]),
        ):
            sid, w.messages[role], w.participants[role] = w.make_conversation(
                w.collection(role), role, unique_name, identities
            )
            setattr(w, role, sid)
        yield w
    finally:
        live_gateway.stop()


class ErrorLog(logging.Handler):
    """Errors the gateway (and the libraries under it) log: a crashed connection handler, a lost task, a 500."""

    WATCHED = ("gateway", "bridge", "websockets", "asyncio")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []
        self.guard = threading.Lock()  # not `lock`: that is the Handler's own, held around emit()

    def emit(self, record: logging.LogRecord) -> None:
        """Kept as `<exception line>\n<logger: message>\n<the repository's frames>`."""
        if not record.name.startswith(self.WATCHED):
            return
        text = f"{record.name}: {record.getMessage()}"
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            ours = [f for f in traceback.extract_tb(error.__traceback__) if "/site-packages/" not in f.filename]
            exception = traceback.format_exception_only(type(error), error)[0].strip()
            text = f"{exception[:300]}\n{text}\n{''.join(traceback.format_list(ours[-4:])).rstrip()}"
        with self.guard:
            self.records.append(text)

    def take(self) -> list[str]:
        with self.guard:
            taken, self.records = self.records, []
        return taken


@contextmanager
def watching_errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)

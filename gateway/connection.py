"""One SDK socket: the init handshake, acks and pings, token life, upstream requests and the Sync objects it
follows. Frames go out through one bounded queue; a client too slow to drain it is told to reconnect (close
308), and catches up from the log when it does."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bridge import access_tokens, jsontext
from bridge.access_tokens import ChatClient
from bridge.chat import feed, objects, registrations, sync_reads
from bridge.chat.access import Caller, caller_for
from bridge.chat.client_api import Reply, Request
from bridge.errors import BridgeError
from gateway.frames import Frame, FrameError, decode, encode

if TYPE_CHECKING:
    from gateway.server import Gateway

log = logging.getLogger(__name__)

INIT_TIMEOUT = 30.0  # the SDK's own wait for the init reply
OUTBOX_LIMIT = 5000  # frames waiting for a slow client before it is told to reconnect
BAD_FRAMES_LIMIT = 20
SYNC_EVENT = "twilio.sync.event"
TYPING_EVENT = "twilio.ipmsg.typing_indicator"


class Connection:
    def __init__(self, gateway: Gateway, websocket: ServerConnection) -> None:
        self.gateway = gateway
        self.websocket = websocket
        self.client: ChatClient | None = None
        self.positions: dict[str, int] = {}  # followed object SID -> last event id sent
        self.streams: dict[str, set[str]] = {}  # stream -> followed object SIDs
        self.rechecking: set[str] = set()  # streams held back until this client's access is checked again
        self.message_types: set[str] = {SYNC_EVENT, TYPING_EVENT}
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.unacked_pings = 0
        self.bad_frames = 0
        self.allowance = float(gateway.options.burst)
        self.allowance_at = time.monotonic()
        self.token_timer: asyncio.Task[None] | None = None
        self.closing = False

    # --- Follower (gateway.hub) ---

    def objects_of(self, stream: str) -> list[str]:
        return list(self.streams.get(stream, ()))

    def loses_access(self, event: feed.SyncEvent) -> bool:
        return event.revokes is not None and (
            event.revokes == feed.EVERYONE or (self.client is not None and event.revokes == self.client.identity)
        )

    def suspended(self, stream: str) -> bool:
        return stream in self.rechecking

    def recheck(self, stream: str) -> None:
        if stream not in self.rechecking:
            self.rechecking.add(stream)
            self._spawn(self._recheck(stream))

    async def _recheck(self, stream: str) -> None:
        followed = sorted(self.streams.get(stream, ()))
        allowed = False
        if followed:
            try:
                await self.gateway.run(self._authorize, followed[0])
                allowed = True
            except BridgeError:
                allowed = False
        self.rechecking.discard(stream)
        if allowed:
            await self.gateway.hub.catch_up(stream)
        else:
            for sid in followed:
                self._unfollow(sid)

    def send_event(self, event: feed.SyncEvent) -> None:
        log.debug("event %s #%d %s", event.object_sid, event.id, event.payload["event_type"])
        self.notify(SYNC_EVENT, event.payload)

    # --- sending ---

    def send(self, header: dict[str, Any], payload: Any = None) -> None:
        if self.closing:
            return
        if self.outbox.qsize() >= OUTBOX_LIMIT:
            log.warning("a client is too slow to read its events; asking it to reconnect")
            self.closing = True
            self.outbox.put_nowait(encode(_close_header(308, "Reconnect"), _backoff(self.gateway.options)))
            self.outbox.put_nowait(None)
            return
        self.outbox.put_nowait(encode(header, payload))

    def notify(self, message_type: str, payload: Any) -> None:
        if message_type in self.message_types:
            header = {"method": "notification", "id": _id(), "message_type": message_type, "notification_ctx_id": ""}
            self.send(header, payload)

    def reply(self, request_id: str, status: int = 200, status_text: str = "OK", **fields: Any) -> None:
        self.send({"method": "reply", "id": request_id, "status": {"code": status, "status": status_text}, **fields})

    def refuse(self, request_id: str, error: BridgeError) -> None:
        """Twilsock's refusal of an init or update: 401/403 end the session (the SDK's "denied")."""
        reason = _reason(error.status)
        status = {"code": error.status, "status": reason, "errorCode": error.code, "description": error.message}
        self.send({"method": "reply", "id": request_id, "status": status})

    async def _writer(self) -> None:
        while True:
            frame = await self.outbox.get()
            if frame is None:
                await self.websocket.close()
                return
            await self.websocket.send(frame)

    # --- life ---

    async def serve(self) -> None:
        writer = asyncio.create_task(self._writer())
        try:
            if not await self._handshake():
                self.outbox.put_nowait(None)
                await asyncio.wait_for(writer, 3)
                return
            pinger = self._spawn(self._pinger())
            async for data in self.websocket:
                self._receive(data)
            pinger.cancel()
        except ConnectionClosed:
            pass
        finally:
            self.closing = True
            writer.cancel()
            for task in list(self.tasks):
                task.cancel()
            if self.token_timer is not None:
                self.token_timer.cancel()
            self.gateway.forget(self)

    async def _handshake(self) -> bool:
        try:
            data = await asyncio.wait_for(self.websocket.recv(), INIT_TIMEOUT)
            frame = decode(data)
        except (TimeoutError, FrameError):
            return False
        if frame.method != "init":
            return False
        try:
            self.client = await self.gateway.run(self._verify, str(frame.header.get("token") or ""))
        except BridgeError as refused:
            self.refuse(frame.id, refused)
            return False
        wanted = _message_types(frame.header.get("registrations"))
        if wanted:
            self.message_types = wanted
        self.reply(
            frame.id,
            capabilities=["client_update", "offline_storage"],
            continuation_token=str(frame.header.get("continuation_token") or "") or _continuation(),
            continuation_token_status={"reused": bool(frame.header.get("continuation_token"))},
            init_registrations=[],
        )
        self._arm_token_timer()
        self.gateway.joined(self)
        return True

    def _verify(self, token: str) -> ChatClient:
        with self.gateway.database.transaction() as session:
            return access_tokens.verify(session, token, self.gateway.settings.account_sid)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _pinger(self) -> None:
        while True:
            await asyncio.sleep(self.gateway.options.ping_seconds)
            if self.unacked_pings >= 2:
                log.info("a client stopped answering pings; closing its socket")
                await self.websocket.close()
                return
            self.unacked_pings += 1
            self.send({"method": "ping", "id": "TP" + _id()[2:]})

    def _arm_token_timer(self) -> None:
        if self.token_timer is not None:
            self.token_timer.cancel()
        assert self.client is not None
        self.token_timer = asyncio.create_task(self._token_life(self.client.expires_at))

    async def _token_life(self, expires_at: datetime) -> None:
        left = (expires_at - datetime.now(UTC)).total_seconds()
        warn_in = left - self.gateway.options.token_warning_seconds
        if warn_in > 0:
            await asyncio.sleep(warn_in)
        if left > 0:
            self.send(
                {
                    "method": "client_update",
                    "id": _id(),
                    "client_update_type": "token_about_to_expire",
                    "client_update_message": "Your token is about to expire",
                }
            )
            await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()))
        self.send(_close_header(410, "Token expired"))
        self.closing = True
        self.outbox.put_nowait(None)

    # --- receiving ---

    def _receive(self, data: bytes | str) -> None:
        try:
            frame = decode(data)
        except FrameError as error:
            self.bad_frames += 1
            log.info("refused a frame: %s", error)
            if self.bad_frames >= BAD_FRAMES_LIMIT:
                self._spawn(self.websocket.close(1002, "malformed frames"))
            return
        match frame.method:
            case "reply":
                self.unacked_pings = 0
            case "message":
                if self._allowed():
                    self._spawn(self._upstream(frame))
                else:
                    self._upstream_reply(frame.id, Reply(429, _too_many()))
            case "update":
                self._spawn(self._update(frame))
            case "close":
                self.closing = True
                self.outbox.put_nowait(None)
            case "ping":
                self.reply(frame.id)
            case _:  # telemetry.v1 and notification contexts: nothing to do
                pass

    def _allowed(self) -> bool:
        """A token bucket per socket: a flood gets 429 (the SDK backs off) and no other socket notices."""
        now = time.monotonic()
        options = self.gateway.options
        self.allowance = min(float(options.burst), self.allowance + (now - self.allowance_at) * options.rate)
        self.allowance_at = now
        if self.allowance < 1:
            return False
        self.allowance -= 1
        return True

    async def _update(self, frame: Frame) -> None:
        try:
            renewed = await self.gateway.run(self._verify, str(frame.header.get("token") or ""))
        except BridgeError as refused:
            self.refuse(frame.id, refused)
            return
        assert self.client is not None
        if (renewed.identity, renewed.service_sid) != (self.client.identity, self.client.service_sid):
            self.refuse(frame.id, BridgeError(20403, "The new token is for someone else", 403))
            return
        self.client = renewed
        self._arm_token_timer()
        self.reply(frame.id)

    async def _upstream(self, frame: Frame) -> None:
        request = _request(frame)
        try:
            if request is None:
                reply = Reply(400, BridgeError(20001, "No http_request in the message", 400).as_dict())
            elif _has_nul(request):
                reply = Reply(400, BridgeError(20001, "NUL characters are not allowed", 400).as_dict())
            elif request.path == "/v4/Subscriptions" and request.method == "POST":
                reply = self._subscriptions(request)
            elif request.path.startswith("/v3/") and request.method == "GET":
                reply = await self.gateway.run(self._sync_read, request)
            elif self.gateway.api.typing_path(self._client(), request):
                reply = await self._typing(request)
            elif request.path.startswith("/Client/"):
                reply = await self.gateway.run(self.gateway.api.handle, self._client(), request)
            elif registrations.is_registration_path(request.path):  # the push registry (ers.* host)
                reply = await self.gateway.run(registrations.handle, self.gateway.database, self._client(), request)
            else:
                reply = Reply(404, BridgeError(20404, f"No resource at {request.path}", 404).as_dict())
        except BridgeError as error:
            reply = Reply(error.status, error.as_dict())
        except Exception:
            log.exception("an upstream request failed")
            reply = Reply(500, BridgeError(20500, "Internal error", 500).as_dict())
        self._upstream_reply(frame.id, reply)

    def _upstream_reply(self, request_id: str, reply: Reply) -> None:
        header = {
            "method": "reply",
            "id": request_id,
            "status": {"code": 200, "status": "OK"},  # the transport's status; the request's is http_status
            "http_status": {"code": reply.status, "status": _reason(reply.status)},
            "http_headers": {"content-type": "application/json"},
            "payload_type": "application/json",
        }
        self.send(header, reply.body)

    def _client(self) -> ChatClient:
        assert self.client is not None
        return self.client

    def _caller(self, session: Any) -> Caller:
        return caller_for(session, self._client(), self.gateway.settings.public_base_url)

    def _sync_read(self, request: Request) -> Reply:
        parts = [part for part in request.path.split("/") if part][1:]
        with self.gateway.database.transaction() as session:
            caller = self._caller(session)
            return Reply(200, sync_reads.read(session, caller, parts, request.params, self.gateway.online_of))

    # --- typing ---

    async def _typing(self, request: Request) -> Reply:
        conversation_sid = await self.gateway.run(self.gateway.api.typing_conversation, self._client(), request)
        self.gateway.typing(self._client().service_sid, conversation_sid, self._client().identity)
        return Reply(200, {"typing_timeout": self.gateway.options.typing_timeout})

    def typing_of(self, conversation_sid: str, identity: str) -> None:
        if self.client is None or identity == self.client.identity:
            return
        if objects.of("conversation", conversation_sid).sid in self.positions:
            payload = {
                "channel_sid": conversation_sid,
                "identity": identity,
                "typing_timeout": self.gateway.options.typing_timeout + 1,
            }
            self.notify(TYPING_EVENT, payload)

    # --- subscriptions ---

    def _subscriptions(self, request: Request) -> Reply:
        try:
            body = feed_json(request.body)
        except ValueError:
            return Reply(400, BridgeError(20001, "The body is not JSON", 400).as_dict())
        wanted = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(wanted, list) or len(wanted) > 100:
            return Reply(400, BridgeError(20001, "requests must be a list of at most 100", 400).as_dict())
        action = body.get("action")
        if action not in ("establish", "cancel"):
            return Reply(400, BridgeError(20001, "action must be establish or cancel", 400).as_dict())
        self._spawn(self._subscribe(action, body.get("correlation_id"), wanted))
        return Reply(202, {"estimated_delivery_in_ms": 5000, "max_batch_size": 100, "ttl_in_s": -1})

    async def _subscribe(self, action: str, correlation_id: Any, wanted: list[Any]) -> None:
        log.debug("subscription %s %s", action, wanted)
        done: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        streams: set[str] = set()
        for entry in wanted:
            if not isinstance(entry, dict):
                continue
            sid = str(entry.get("object_sid") or "")
            kind = entry.get("object_type")
            if action == "cancel":
                self._unfollow(sid)
                done.append({"object_sid": sid, "object_type": kind})
                continue
            try:
                current = await self.gateway.run(self._authorize, sid)
            except BridgeError as error:
                failed.append(
                    {"object_sid": sid, "object_type": kind,
                     "error": {"status": error.status, "code": error.code, "message": error.message}}
                )  # fmt: skip
                continue
            last = entry.get("last_event_id")
            known = last if isinstance(last, int) and not isinstance(last, bool) and last >= 0 else current
            self._follow(sid, min(known, current))  # an id from the future (a restored database): from now
            streams.add(objects.parse(sid).stream)  # type: ignore[union-attr]
        for stream in streams:
            await self.gateway.hub.catch_up(stream)  # the replay: what happened after the client's last id
        established = [
            {"object_sid": item_sid, "object_type": objects.parse(item_sid).type,  # type: ignore[union-attr]
             "replay_status": "completed", "last_event_id": self.positions.get(item_sid, 0)}
            for item_sid in (str(e.get("object_sid")) for e in wanted if isinstance(e, dict))
            if item_sid in self.positions and action != "cancel"
        ]  # fmt: skip
        common = {"correlation_id": correlation_id, "event_protocol_version": feed.PROTOCOL}
        if action == "cancel":
            self.notify(SYNC_EVENT, {"event_type": "subscription_canceled", **common, "events": done})
        elif established:
            self.notify(SYNC_EVENT, {"event_type": "subscription_established", **common, "events": established})
        if failed:
            self.notify(SYNC_EVENT, {"event_type": "subscription_failed", **common, "events": failed})

    def _authorize(self, object_sid: str) -> int:
        """The object's current event id, if this client may follow it."""
        with self.gateway.database.transaction() as session:
            _, owner = sync_reads.resolve(session, self._caller(session), object_sid)
            return sync_reads.stream_seq(owner)

    def _follow(self, object_sid: str, position: int) -> None:
        obj = objects.parse(object_sid)
        if obj is None:
            return
        if object_sid not in self.positions:
            self.positions[object_sid] = position
        else:  # a re-subscription: the client says what it has
            self.positions[object_sid] = min(self.positions[object_sid], position)
        self.streams.setdefault(obj.stream, set()).add(object_sid)
        self.gateway.hub.follow(obj.stream, self)

    def _unfollow(self, object_sid: str) -> None:
        obj = objects.parse(object_sid)
        if obj is None or object_sid not in self.positions:
            return
        del self.positions[object_sid]
        followed = self.streams.get(obj.stream, set())
        followed.discard(object_sid)
        if not followed:
            self.streams.pop(obj.stream, None)
            self.gateway.hub.unfollow(obj.stream, self)

    def unfollow_all(self) -> None:
        for stream in list(self.streams):
            self.gateway.hub.unfollow(stream, self)
        self.streams.clear()
        self.positions.clear()

    async def offload(self) -> None:
        """The process is stopping: the client reconnects (to any gateway) after the backoff."""
        self.send(_close_header(308, "Offload"), _backoff(self.gateway.options))
        self.closing = True
        self.outbox.put_nowait(None)


def feed_json(text: str) -> Any:
    return jsontext.loads(text) if text else {}


def _request(frame: Frame) -> Request | None:
    http = frame.header.get("http_request")
    if not isinstance(http, dict):
        return None
    params = http.get("params")
    headers = http.get("headers")
    params = params if isinstance(params, dict) else {}
    headers = headers if isinstance(headers, dict) else {}
    flat = {str(k): (str(v[0]) if isinstance(v, list) and v else str(v)) for k, v in params.items()}
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    return Request(
        method=str(http.get("method") or "GET"),
        path=str(http.get("path") or "/"),
        params=flat,
        headers=lowered,
        body=frame.payload,
        content_type=str(frame.header.get("payload_type") or lowered.get("content-type") or ""),
    )


def _has_nul(request: Request) -> bool:
    """PostgreSQL refuses NUL in text; no identity, SID or value of the bridge holds one (the REST API refuses them
    too), so a request with one anywhere is refused before it reaches the database."""
    texts = [request.path, request.body, *request.params.keys(), *request.params.values(), *request.headers.values()]
    return any("\x00" in text for text in texts) or "\\u0000" in request.body


def _message_types(registrations: Any) -> set[str]:
    if not isinstance(registrations, list):
        return set()
    wanted: set[str] = set()
    for registration in registrations:
        types = registration.get("message_types") if isinstance(registration, dict) else None
        if isinstance(types, list):
            wanted |= {t for t in types if isinstance(t, str)}
    return wanted


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _close_header(code: int, text: str) -> dict[str, Any]:
    return {"method": "close", "id": _id(), "status": {"code": code, "status": text}}


def _backoff(options: Any) -> dict[str, Any]:
    return {"backoff_policy": {"reconnect_min_ms": options.reconnect_min_ms, "reconnect_max_ms": 5000}}


def _too_many() -> dict[str, Any]:
    return BridgeError(20429, "Too many requests on this socket", 429).as_dict()


def _id() -> str:
    return "TM" + str(uuid.uuid4())


def _continuation() -> str:
    return "CT" + secrets.token_hex(16)

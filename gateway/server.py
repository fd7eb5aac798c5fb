"""The gateway process: WebSocket server on `/v3/wsconnect`, the thread pool for database work, the Redis
wake-ups and the poll that backs them up."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import json
import logging
import os
import signal
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from bridge import carrier_numbers, origins, users
from bridge.chat import presence, wakeups
from bridge.chat.access import Caller
from bridge.chat.client_api import TYPING_TIMEOUT, ClientApi
from bridge.config import Settings
from bridge.db import Database
from bridge.services import find_service
from gateway.connection import Connection
from gateway.hub import Hub

log = logging.getLogger(__name__)
T = TypeVar("T")
PATH = "/v3/wsconnect"
MAX_FRAME = 1024 * 1024  # bytes: the largest frame a client may send (a message body is at most 32 KiB)


@dataclass(frozen=True)
class Options:
    ping_seconds: float = 30.0
    poll_seconds: float = 2.0
    token_warning_seconds: float = 180.0  # client_update this long before the token expires
    typing_timeout: int = TYPING_TIMEOUT
    rate: float = 50.0  # upstream requests per second per socket, on average
    burst: int = 200
    reconnect_min_ms: int = 1000
    threads: int = 16

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Options:
        env = dict(os.environ) if env is None else env

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            return float(raw) if raw else default

        return cls(
            ping_seconds=number("BRIDGE_GATEWAY_PING_SECONDS", 30.0),
            poll_seconds=number("BRIDGE_GATEWAY_POLL_SECONDS", 2.0),
            token_warning_seconds=number("BRIDGE_GATEWAY_TOKEN_WARNING_SECONDS", 180.0),
            rate=number("BRIDGE_GATEWAY_RATE", 50.0),
            burst=int(number("BRIDGE_GATEWAY_BURST", 200)),
            threads=int(number("BRIDGE_GATEWAY_THREADS", 16)),
        )


class Gateway:
    def __init__(self, settings: Settings, database: Database, options: Options | None = None) -> None:
        self.settings = settings
        self.database = database
        database.proxy_rule = carrier_numbers.proxy_rule(settings.carrier)  # a client may add an SMS participant
        self.options = options or Options.from_env()
        self.pool = ThreadPoolExecutor(self.options.threads, thread_name_prefix="gateway-db")
        base = Caller(None, "", settings.public_base_url)  # type: ignore[arg-type]
        self.process_id = uuid.uuid4().hex
        # Presence lives in Redis (bridge/chat/presence.py), read and written from the thread pool.
        self.presence_redis: Any = (
            redis.Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
            if settings.redis_url
            else None
        )
        self.present: dict[tuple[str, str], int] = {}  # (service SID, identity) -> this process's sockets
        self.user_sids: dict[tuple[str, str], str] = {}
        self.hub = Hub(database, base, self.run, self.online_of)
        self.api = ClientApi(database, settings, self.online_of)
        self.connections: set[Connection] = set()
        self.redis: Any = aioredis.from_url(settings.redis_url) if settings.redis_url else None
        self.tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(function, *args))

    # --- connections ---

    def joined(self, connection: Connection) -> None:
        self.connections.add(connection)
        assert connection.client is not None
        who = (connection.client.service_sid, connection.client.identity)
        self.present[who] = self.present.get(who, 0) + 1
        if self.present[who] == 1:
            self.spawn(self.run(self._arrive, who))

    def forget(self, connection: Connection) -> None:
        if connection in self.connections and connection.client is not None:
            who = (connection.client.service_sid, connection.client.identity)
            self.present[who] = self.present.get(who, 1) - 1
            if self.present[who] <= 0:
                del self.present[who]
                self.spawn(self.run(self._leave, who))
        self.connections.discard(connection)
        connection.unfollow_all()

    # --- presence ---

    def online_of(self, user_sid: str) -> bool:
        return presence.is_online(self.presence_redis, user_sid)

    def _arrive(self, who: tuple[str, str]) -> None:
        if self.presence_redis is None:
            return
        with self.database.transaction() as session:
            service = find_service(session, who[0])
            user = users.ensure_user(session, service, who[1])
        self.user_sids[who] = user.sid
        try:
            first = presence.arrive(self.presence_redis, self.process_id, user.sid)
        except redis.RedisError:
            return
        if first:
            with self.database.transaction() as session:
                presence.record_change(session, who[0], who[1], online=True)

    def _leave(self, who: tuple[str, str]) -> None:
        user_sid = self.user_sids.pop(who, None)
        if self.presence_redis is None or user_sid is None or who in self.present:
            return
        try:
            last = presence.leave(self.presence_redis, self.process_id, user_sid)
        except redis.RedisError:
            return
        if last:
            with self.database.transaction() as session:
                presence.record_change(session, who[0], who[1], online=False)

    async def renew_presence(self) -> None:
        while True:
            await asyncio.sleep(presence.LEASE_SECONDS / 3)
            with contextlib.suppress(Exception):
                await self.run(presence.renew, self.presence_redis, self.process_id, list(self.user_sids.values()))

    async def handler(self, websocket: ServerConnection) -> None:
        await Connection(self, websocket).serve()

    def process_request(self, connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        if request.path.split("?")[0] == "/health":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if request.path.split("?")[0] != PATH:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        origin = request.headers.get("Origin")
        if not origins.origin_allowed(self.settings, origin):
            # A page of another site: refused before the socket opens, so it never gets to present a token.
            log.warning("chat socket refused: Origin %s is not the bridge's nor in BRIDGE_ALLOWED_ORIGINS", origin)
            return connection.respond(http.HTTPStatus.FORBIDDEN, "origin not allowed\n")
        return None

    # --- typing: every gateway process hears it, through Redis when there is one ---

    def typing(self, service_sid: str, conversation_sid: str, identity: str) -> None:
        message = json.dumps({"s": service_sid, "c": conversation_sid, "i": identity})
        if self.redis is None:
            self._typing_here(message)
            return
        self.spawn(self._publish_typing(message))

    async def _publish_typing(self, message: str) -> None:
        try:
            await self.redis.publish(wakeups.TYPING_CHANNEL, message)
        except Exception:  # no Redis: the sockets of this process still hear it
            self._typing_here(message)

    def _typing_here(self, message: str) -> None:
        data = json.loads(message)
        for connection in list(self.connections):
            if connection.client is not None and connection.client.service_sid == data["s"]:
                connection.typing_of(data["c"], data["i"])

    # --- keeping followers up to date ---

    async def listen(self) -> None:
        """Redis wake-ups: a stream moved (or someone typed). Reconnects after Redis goes away."""
        if self.redis is None:
            return
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(wakeups.STREAMS_CHANNEL, wakeups.TYPING_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    channel = message["channel"].decode()
                    data = message["data"].decode()
                    if channel == wakeups.TYPING_CHANNEL:
                        self._typing_here(data)
                        continue
                    for stream in self.hub.woken(data.split()):
                        self.spawn(self.hub.catch_up(stream))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("lost the Redis wake-ups (%s); polling until they are back", error)
                await asyncio.sleep(1)

    async def poll(self) -> None:
        while True:
            await asyncio.sleep(self.options.poll_seconds)
            try:
                await self.hub.poll()
            except Exception:
                log.exception("polling the followed streams failed; trying again")

    def request_stop(self) -> None:
        """Thread-safe: the server offloads its clients and ends."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(
                lambda: self._stop is None or self._stop.done() or self._stop.set_result(None)
            )

    async def serve_forever(self, host: str, port: int, ready: Callable[[int], None] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop = self._loop.create_future()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread: no signals
                self._loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
        background = [asyncio.create_task(self.listen()), asyncio.create_task(self.poll())]
        if self.presence_redis is not None:
            background.append(asyncio.create_task(self.renew_presence()))
        async with serve(
            self.handler,
            host,
            port,
            process_request=self.process_request,
            max_size=MAX_FRAME,
            compression="deflate",
        ) as server:
            bound = next(iter(server.sockets)).getsockname()[1]
            log.info("chat gateway listening on ws://%s:%d%s", host, bound, PATH)
            if ready is not None:
                ready(bound)
            await stop
            for connection in list(self.connections):
                await connection.offload()
            await asyncio.sleep(0.5)  # let the close frames go out
        for task in background:
            task.cancel()
        self.pool.shutdown(wait=False)

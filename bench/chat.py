"""The chat side of the gateway benchmark: many bare twilsock v3 clients in one asyncio loop (the `websockets`
library's client, permessage-deflate offered as the SDK's `ws` does), each doing what the Conversations SDK does
for one conversation: `init` with its token, `POST /v4/Subscriptions` inside the socket for the conversation's
message list, wait for `subscription_established`, then acknowledge every notification, ping and client_update
with a `reply` frame (shared/reference/twilsock.md sections 3.2-3.4 and 5.3).

The framing is the gateway's own (`gateway.frames`): whether it speaks the protocol is for the real SDK to judge
(tests/integration/test_chat_sdk.py); here it only has to carry the load.

Every `list_item_added` whose `item_data.text` carries a benchmark tag (`bench <run>-<n>`, bench/carrier.py) is
recorded with its arrival time (CLOCK_MONOTONIC, as the load generator's send times).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.carrier import TAG
from bench.loadgen import LoadResult, PreparedRequest, open_loop
from bench.measure import new_run_id
from bench.stack import CpuMeter, cpu_seconds, proc_status_kb
from bench.stats import percentile
from gateway.frames import Frame, decode, encode

T = TypeVar("T")
SYNC_EVENT = "twilio.sync.event"
MESSAGE_TYPES = [  # what the SDK registers for in its init (twilsock.md 3.3)
    "twilio.ipmsg.typing_indicator",
    SYNC_EVENT,
    "com.twilio.rtd.cds.document",
    "com.twilio.rtd.cds.list",
    "com.twilio.rtd.cds.map",
]
STEP_TIMEOUT_SECONDS = 30.0  # the SDK's own wait for an init or upstream reply
ACKED = ("notification", "ping", "client_update", "close")  # every non-reply message the client receives


class TwilsockError(Exception):
    """A frame that is not twilsock v3, or a refusal, from the gateway."""


def _id() -> str:
    return "TM" + str(uuid.uuid4())


@dataclass
class Arrivals:
    """What the fleet received of the benchmark's messages: (run, n) -> socket number -> first arrival."""

    first: dict[tuple[str, int], dict[int, float]] = field(default_factory=dict)
    event_ids: dict[tuple[str, int, int], int] = field(default_factory=dict)  # (run, n, socket) -> first event id
    duplicates: Counter[tuple[str, int]] = field(default_factory=Counter)
    duplicate_detail: dict[str, list[str]] = field(default_factory=dict)  # run -> its first few, for the report
    notifications: int = 0  # every notification frame, of any kind
    acks_sent: int = 0

    def record(self, run_id: str, sequence: int, socket: int, at: float, event_id: Any) -> None:
        at_sockets = self.first.setdefault((run_id, sequence), {})
        if socket in at_sockets:
            self.duplicates[(run_id, sequence)] += 1
            detail = self.duplicate_detail.setdefault(run_id, [])
            if len(detail) < 20:
                first_id = self.event_ids.get((run_id, sequence, socket))
                detail.append(
                    f"{run_id}-{sequence} at socket {socket}: event id {first_id}, again as id {event_id} "
                    f"{at - at_sockets[socket]:.3f} s later"
                )
        else:
            at_sockets[socket] = at
            self.event_ids[(run_id, sequence, socket)] = event_id

    def delivered(self, run_id: str) -> int:
        return sum(len(sockets) for (run, _), sockets in self.first.items() if run == run_id)


@dataclass
class ChatSocket:
    """One SDK-like client: identity, the message list it follows, and its socket."""

    number: int
    identity: str
    token: str
    list_sid: str
    room: int  # the conversation's number (message n goes to room n % rooms)
    connection: ClientConnection | None = None
    subscribed_after: float | None = None  # seconds from the connect's start to subscription_established
    failure: str | None = None
    closed_early: str | None = None  # the socket closed before the fleet closed it (and why)
    _replies: dict[str, asyncio.Future[Frame]] = field(default_factory=dict)
    _established: asyncio.Future[dict[str, Any]] | None = None
    _reader: asyncio.Task[None] | None = None


class Fleet:
    """Opens, holds and closes the sockets; records tagged list_item_added arrivals while they are open."""

    def __init__(self, url: str, sockets: list[ChatSocket], connect_concurrency: int, deflate: bool = True) -> None:
        self.url = url
        self.sockets = sockets
        self.connect_concurrency = connect_concurrency
        self.deflate = deflate  # offer permessage-deflate, as the SDK's `ws` does
        self.arrivals = Arrivals()
        self.closing = False

    async def connect_all(self) -> float:
        """Every socket connected, initialised and subscribed (or failed); returns the wall time it took."""
        slots = asyncio.Semaphore(self.connect_concurrency)

        async def one(chat: ChatSocket) -> None:
            async with slots:
                await self._open(chat)

        started = time.monotonic()
        await asyncio.gather(*(one(chat) for chat in self.sockets))
        return time.monotonic() - started

    async def _open(self, chat: ChatSocket) -> None:
        started = time.monotonic()
        try:
            chat.connection = await connect(
                self.url,
                open_timeout=STEP_TIMEOUT_SECONDS,
                ping_interval=None,  # the SDK's `ws` sends no WebSocket pings; the gateway drives keep-alive
                max_size=4 * 1024 * 1024,
                compression="deflate" if self.deflate else None,
            )
            loop = asyncio.get_running_loop()
            chat._established = loop.create_future()
            chat._reader = asyncio.create_task(self._read(chat))
            init = {"id": _id(), "method": "init", "token": chat.token, "continuation_token": None,
                    "capabilities": ["client_update", "offline_storage"], "tweaks": None,
                    "registrations": [{"product": "ip_messaging", "type": "ers", "notification_protocol_version": 0,
                                       "message_types": MESSAGE_TYPES}],
                    "metadata": {"type": "conversations", "sdk": "bench", "sdkv": "0"}}  # fmt: skip
            reply = await self._ask(chat, init)
            if reply.header.get("status", {}).get("code") != 200:
                raise TwilsockError(f"init refused: {reply.header.get('status')}")
            subscribe = {
                "event_protocol_version": 4,
                "action": "establish",
                "correlation_id": chat.number + 1,
                "retried_requests": 0,
                "ttl_in_s": -1,
                "requests": [{"object_sid": chat.list_sid, "object_type": "list"}],
            }
            header = {
                "id": _id(),
                "method": "message",
                "active_grant": "ip_messaging",
                "payload_type": "application/json",
                "http_request": {"host": "cds.us1.twilio.com", "path": "/v4/Subscriptions", "method": "POST",
                                 "params": {}, "headers": {"Content-Type": "application/json"}},
            }  # fmt: skip
            reply = await self._ask(chat, header, json.dumps(subscribe))
            status = reply.header.get("http_status", {}).get("code")
            if not isinstance(status, int) or not 200 <= status < 300:
                raise TwilsockError(f"subscription refused: HTTP {status} {reply.payload[:200]!r}")
            established = await asyncio.wait_for(chat._established, STEP_TIMEOUT_SECONDS)
            sids = [event.get("object_sid") for event in established.get("events", [])]
            if chat.list_sid not in sids:
                raise TwilsockError(f"subscription_established without {chat.list_sid}: {sids}")
            chat.subscribed_after = time.monotonic() - started
        except (OSError, TimeoutError, TwilsockError, WebSocketException, ValueError) as error:
            chat.failure = f"{type(error).__name__}: {error}"

    async def _ask(self, chat: ChatSocket, header: dict[str, Any], payload: str | None = None) -> Frame:
        assert chat.connection is not None
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        chat._replies[header["id"]] = future
        await chat.connection.send(encode(header, payload))
        try:
            return await asyncio.wait_for(future, STEP_TIMEOUT_SECONDS)
        finally:
            chat._replies.pop(header["id"], None)

    async def _read(self, chat: ChatSocket) -> None:
        assert chat.connection is not None
        connection = chat.connection
        try:
            async for data in connection:
                received = time.monotonic()
                frame = decode(data)
                method = frame.method
                if method == "reply":
                    waiting = chat._replies.get(frame.id)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(frame)
                    continue
                if method in ACKED:
                    ack = {"id": frame.id, "method": "reply", "payload_type": "application/json",
                           "status": {"code": 200, "status": "OK"}}  # fmt: skip
                    await connection.send(encode(ack))
                    self.arrivals.acks_sent += 1
                if method == "close":
                    chat.closed_early = f"close frame {frame.header.get('status')}"
                if method != "notification":
                    continue
                self.arrivals.notifications += 1
                if frame.header.get("message_type") != SYNC_EVENT:
                    continue
                self._notified(chat, frame.json_payload(), received)
        except ConnectionClosed as closed:
            if not self.closing and chat.closed_early is None:
                chat.closed_early = f"socket closed: {closed}"
        except (TwilsockError, ValueError) as error:
            chat.closed_early = f"unreadable frame: {error}"
            await connection.close()

    def _notified(self, chat: ChatSocket, payload: Any, received: float) -> None:
        if not isinstance(payload, dict):
            return
        event_type = payload.get("event_type")
        if event_type == "subscription_established":
            if chat._established is not None and not chat._established.done():
                chat._established.set_result(payload)
        elif event_type == "subscription_failed":
            if chat._established is not None and not chat._established.done():
                chat._established.set_exception(TwilsockError(f"subscription_failed: {payload.get('events')}"))
        elif event_type == "list_item_added":
            event = payload.get("event") or {}
            text = str((event.get("item_data") or {}).get("text") or "")
            found = TAG.search(text)
            if found is not None:
                self.arrivals.record(found.group(1), int(found.group(2)), chat.number, received, event.get("id"))

    async def wait_for(self, run_id: str, expected: int, timeout: float) -> bool:
        """Until `expected` (message, socket) arrivals of this run are in, or the timeout."""
        deadline = time.monotonic() + timeout
        while self.arrivals.delivered(run_id) < expected:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def close_all(self, timeout: float = 20.0) -> None:
        """A client `close` frame and the WebSocket close, as the SDK's shutdown(); what is left is aborted."""
        self.closing = True
        open_sockets = [chat for chat in self.sockets if chat.connection is not None]

        async def one(chat: ChatSocket) -> None:
            assert chat.connection is not None
            with contextlib.suppress(ConnectionClosed, OSError):
                await chat.connection.send(encode({"id": _id(), "method": "close"}))
                await chat.connection.close()

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(one(chat) for chat in open_sockets)), timeout)
        self.abort_all()

    def abort_all(self) -> None:
        """Drops every socket at once (the way out on an error or Ctrl-C)."""
        self.closing = True
        for chat in self.sockets:
            if chat._reader is not None:
                chat._reader.cancel()
            if chat.connection is not None:
                chat.connection.transport.abort()


# -- the measurement ------------------------------------------------------------------------------------------


def rss_kb(pid: int, field_name: str = "VmRSS") -> int:
    value = proc_status_kb(pid, field_name)
    if value is None:
        raise RuntimeError(f"process {pid} is gone (no /proc/{pid}/status)")
    return value


@dataclass
class SocketsOutcome:
    """Phase 1: N sockets connected, initialised and subscribed, then idle."""

    sockets: int
    conversations: int
    subscribed: int
    failures: Counter[str]
    connect_seconds: float
    connect_concurrency: int
    subscribe_latencies: list[float] = field(repr=False)  # connect start -> subscription_established, per socket
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    gateway_cpu_seconds: float = 0.0  # during the connect
    idle_seconds: float = 0.0
    idle_cpu_seconds: float = 0.0  # the gateway's, while the sockets sat idle (pings, presence, the poll)

    @property
    def idle_cores(self) -> float:
        return self.idle_cpu_seconds / self.idle_seconds if self.idle_seconds else math.nan

    @property
    def per_socket_kb(self) -> float:
        return (self.rss_after_kb - self.rss_before_kb) / self.subscribed if self.subscribed else math.nan

    def summary(self) -> dict[str, Any]:
        return {
            "sockets": self.sockets,
            "conversations": self.conversations,
            "subscribed": self.subscribed,
            "failures": dict(self.failures),
            "connect_seconds": self.connect_seconds,
            "connect_concurrency": self.connect_concurrency,
            "subscribe_p50": percentile(self.subscribe_latencies, 0.5),
            "subscribe_p99": percentile(self.subscribe_latencies, 0.99),
            "gateway_rss_before_kb": self.rss_before_kb,
            "gateway_rss_after_kb": self.rss_after_kb,
            "gateway_kb_per_socket": self.per_socket_kb,
            "gateway_cpu_seconds_connecting": self.gateway_cpu_seconds,
            "idle_seconds": self.idle_seconds,
            "gateway_idle_cpu_seconds": self.idle_cpu_seconds,
            "gateway_idle_cores": self.idle_cores,
        }


@dataclass
class EventsOutcome:
    """Phase 2: inbound SMS webhooks at a fixed rate, and their list_item_added at the subscribed sockets."""

    offered_per_second: float
    sent: int
    accepted: int
    late_starts: int
    load_seconds: float
    errors: dict[str, int]
    accept_latencies: list[float] = field(repr=False)
    arrived: int = 0  # messages whose event reached the conversation's measuring socket
    latencies: list[float] = field(default_factory=list, repr=False)  # webhook start -> arrival there
    after_answer: list[float] = field(default_factory=list, repr=False)  # webhook answered -> arrival there
    fanout_expected: int = 0  # (message, subscribed socket of its conversation) pairs
    fanout_delivered: int = 0
    fanout_latencies: list[float] = field(default_factory=list, repr=False)  # at every socket
    message_latencies: list[float] = field(default_factory=list, repr=False)  # until its last socket
    duplicates: int = 0
    misrouted: int = 0
    timed_out: bool = False
    closed_early: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # the first messages that did not reach every socket
    duplicate_detail: list[str] = field(default_factory=list)
    loop_lags: list[float] = field(default_factory=list, repr=False)  # the clients' event loop, during the load
    cpu: CpuMeter | None = None
    rss_after_kb: int = 0
    hwm_kb: int = 0

    @property
    def lost(self) -> int:
        return self.sent - self.arrived

    @property
    def fanout_lost(self) -> int:
        return self.fanout_expected - self.fanout_delivered

    @property
    def clean(self) -> bool:
        return (
            not (
                self.lost
                or self.fanout_lost
                or self.duplicates
                or self.misrouted
                or self.timed_out
                or self.closed_early
            )
            and self.accepted == self.sent
        )

    def summary(self) -> dict[str, Any]:
        return {
            "offered_per_second": self.offered_per_second,
            "sent": self.sent,
            "accepted": self.accepted,
            "late_starts": self.late_starts,
            "load_seconds": self.load_seconds,
            "errors": self.errors,
            "accept_p50": percentile(self.accept_latencies, 0.5),
            "accept_p99": percentile(self.accept_latencies, 0.99),
            "arrived": self.arrived,
            "lost": self.lost,
            "p50": percentile(self.latencies, 0.5),
            "p99": percentile(self.latencies, 0.99),
            "max": max(self.latencies, default=math.nan),
            "after_answer_p50": percentile(self.after_answer, 0.5),
            "after_answer_p99": percentile(self.after_answer, 0.99),
            "fanout_expected": self.fanout_expected,
            "fanout_delivered": self.fanout_delivered,
            "fanout_lost": self.fanout_lost,
            "fanout_p50": percentile(self.fanout_latencies, 0.5),
            "fanout_p99": percentile(self.fanout_latencies, 0.99),
            "fanout_max": max(self.fanout_latencies, default=math.nan),
            "message_p99": percentile(self.message_latencies, 0.99),
            "duplicates": self.duplicates,
            "misrouted": self.misrouted,
            "timed_out": self.timed_out,
            "closed_early": self.closed_early[:20],
            "missing": self.missing,
            "duplicate_detail": self.duplicate_detail,
            "client_loop_lag_p99": percentile(self.loop_lags, 0.99),
            "client_loop_lag_max": max(self.loop_lags, default=math.nan),
            "gateway_rss_after_load_kb": self.rss_after_kb,
            "gateway_vmhwm_kb": self.hwm_kb,
            "cpu_seconds": self.cpu.used if self.cpu else {},
            "wall_seconds": self.cpu.wall_seconds if self.cpu else math.nan,
        }


def run_until_done(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, quiet when the run is stopped: run.py's Ctrl-C, SIGTERM and --time-limit handlers raise in
    whatever runs, often inside one of the tasks. Then every task is cancelled (the fleet's `finally` drops the
    sockets) and the exception goes on up to run.py's teardown, without "Task exception was never retrieved"."""
    loop = asyncio.new_event_loop()
    stopping = False

    def report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not (stopping and str(context.get("message", "")).startswith("Task exception was never retrieved")):
            loop.default_exception_handler(context)

    loop.set_exception_handler(report)
    try:
        return loop.run_until_complete(coroutine)
    except BaseException:
        stopping = True
        raise
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class LoopLag:
    """How late this process's event loop runs a 10 ms timer: when the clients' loop is busy, arrival times are
    stamped late by about this much (and open-loop requests start late)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.lags = []
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> list[float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.lags

    async def _watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, time.monotonic() - before - self.interval))


@dataclass
class Session:
    """What one gateway benchmark does, inside one event loop."""

    fleet: Fleet
    warmup: Fleet  # a few sockets opened and closed before "RSS before": imports, pools and caches warm
    gateway_pid: int
    rooms: int
    prepare: Callable[[str, int], list[PreparedRequest]]  # (run id, count) -> signed inbound webhooks
    per_second: float
    count: int
    warmup_count: int
    drain_timeout: float
    cpu_groups: Callable[[], dict[str, list[int]]]
    idle_seconds: float = 10.0  # the sockets held idle, the gateway's CPU measured
    settle_seconds: float = 2.0

    async def run(self) -> tuple[SocketsOutcome, EventsOutcome]:
        try:
            sockets = await self._connect()
            events = await self._events()
            await self.fleet.close_all()
            return sockets, events
        finally:
            self.warmup.abort_all()
            self.fleet.abort_all()

    async def _connect(self) -> SocketsOutcome:
        await self.warmup.connect_all()
        warm_failures = [chat.failure for chat in self.warmup.sockets if chat.failure]
        if warm_failures:
            raise RuntimeError(f"warm-up sockets failed: {warm_failures[:3]}")
        await self.warmup.close_all()
        await asyncio.sleep(self.settle_seconds)
        before_kb = rss_kb(self.gateway_pid)
        cpu_before = cpu_seconds(self.gateway_pid) or 0.0
        took = await self.fleet.connect_all()
        cpu_used = (cpu_seconds(self.gateway_pid) or 0.0) - cpu_before
        await asyncio.sleep(self.settle_seconds)  # idle: what the sockets hold, not what connecting them did
        after_kb = rss_kb(self.gateway_pid)
        idle_from = cpu_seconds(self.gateway_pid) or 0.0
        idle_started = time.monotonic()
        await asyncio.sleep(self.idle_seconds)
        idle_cpu = (cpu_seconds(self.gateway_pid) or 0.0) - idle_from
        idle_wall = time.monotonic() - idle_started
        subscribed = [chat for chat in self.fleet.sockets if chat.subscribed_after is not None]
        failures = Counter(chat.failure for chat in self.fleet.sockets if chat.failure)
        return SocketsOutcome(
            sockets=len(self.fleet.sockets),
            conversations=self.rooms,
            subscribed=len(subscribed),
            failures=Counter({str(k): v for k, v in failures.items()}),
            connect_seconds=took,
            connect_concurrency=self.fleet.connect_concurrency,
            subscribe_latencies=[chat.subscribed_after for chat in subscribed if chat.subscribed_after is not None],
            rss_before_kb=before_kb,
            rss_after_kb=after_kb,
            gateway_cpu_seconds=cpu_used,
            idle_seconds=idle_wall,
            idle_cpu_seconds=idle_cpu,
        )

    def _expected_sockets(self) -> dict[int, list[int]]:
        """Room -> the numbers of its subscribed sockets, lowest (the measuring one) first."""
        by_room: dict[int, list[int]] = {room: [] for room in range(self.rooms)}
        for chat in self.fleet.sockets:
            if chat.subscribed_after is not None:
                by_room[chat.room].append(chat.number)
        return {room: sorted(numbers) for room, numbers in by_room.items()}

    def missing(self, run_id: str, count: int, limit: int = 10) -> list[str]:
        """The first messages of a run that did not reach every subscribed socket of their room, for the report:
        `<n> (room r): at k of m sockets`."""
        members = self._expected_sockets()
        found = []
        for sequence in range(count):
            wanted = members[sequence % self.rooms]
            got = self.fleet.arrivals.first.get((run_id, sequence), {})
            if any(number not in got for number in wanted):
                have = sum(1 for number in wanted if number in got)
                found.append(f"{sequence} (room {sequence % self.rooms}): at {have} of {len(wanted)} sockets")
                if len(found) >= limit:
                    break
        return found

    async def _send(self, run_id: str, count: int) -> tuple[LoadResult, int]:
        requests = self.prepare(run_id, count)
        load = await open_loop(requests, self.per_second)
        members = self._expected_sockets()
        expected = sum(len(members[n % self.rooms]) for n in load.accepted((200,)))
        return load, expected

    async def _events(self) -> EventsOutcome:
        warm_id = new_run_id()
        _, warm_expected = await self._send(warm_id, self.warmup_count)
        if not await self.fleet.wait_for(warm_id, warm_expected, self.drain_timeout):
            raise RuntimeError(
                f"warm-up events did not arrive: {self.fleet.arrivals.delivered(warm_id)} of {warm_expected}; "
                f"missing: {self.missing(warm_id, self.warmup_count)}"
            )
        await asyncio.sleep(1.0)
        run_id = new_run_id()
        meter = CpuMeter(self.cpu_groups)
        lag = LoopLag()
        meter.start()
        lag.start()
        load, expected = await self._send(run_id, self.count)
        reached = await self.fleet.wait_for(run_id, expected, self.drain_timeout)
        lags = await lag.stop()
        meter.stop()
        await asyncio.sleep(1.0)  # a late duplicate is seen
        outcome = self._outcome(run_id, load, reached, meter)
        outcome.loop_lags = lags
        return outcome

    def _outcome(self, run_id: str, load: LoadResult, reached: bool, meter: CpuMeter) -> EventsOutcome:
        members = self._expected_sockets()
        room_of = {chat.number: chat.room for chat in self.fleet.sockets}
        arrivals = self.fleet.arrivals
        outcome = EventsOutcome(
            offered_per_second=self.per_second,
            sent=self.count,
            accepted=len(load.accepted((200,))),
            late_starts=load.late_starts,
            load_seconds=load.finished - load.started,
            errors=dict(load.errors),
            accept_latencies=load.latencies((200,)),
            # Refused webhooks count as lost here too: every message sent should reach every socket of its room.
            fanout_expected=sum(len(members[n % self.rooms]) for n in range(self.count)),
            timed_out=not reached,
            cpu=meter,
            rss_after_kb=rss_kb(self.gateway_pid),
            hwm_kb=rss_kb(self.gateway_pid, "VmHWM"),
        )
        for sequence in range(self.count):
            sockets = arrivals.first.get((run_id, sequence), {})
            sent_at = load.sent_at.get(sequence)
            room = sequence % self.rooms
            outcome.misrouted += sum(1 for number in sockets if room_of.get(number) != room)
            outcome.duplicates += arrivals.duplicates.get((run_id, sequence), 0)
            if sent_at is None:
                continue
            wanted = members[room]
            if wanted and wanted[0] in sockets:
                outcome.arrived += 1
                outcome.latencies.append(sockets[wanted[0]] - sent_at)
                if sequence in load.answered_at:
                    outcome.after_answer.append(sockets[wanted[0]] - load.answered_at[sequence])
            reached_at = [sockets[number] for number in wanted if number in sockets]
            outcome.fanout_delivered += len(reached_at)
            outcome.fanout_latencies += [at - sent_at for at in reached_at]
            if wanted and len(reached_at) == len(wanted):
                outcome.message_latencies.append(max(reached_at) - sent_at)
        outcome.missing = self.missing(run_id, self.count)
        outcome.duplicate_detail = arrivals.duplicate_detail.get(run_id, [])
        outcome.closed_early = [
            f"{chat.identity}: {chat.closed_early}" for chat in self.fleet.sockets if chat.closed_early
        ]
        return outcome

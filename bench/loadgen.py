"""The asynchronous load generator: aiohttp client, keep-alive connections, either a bounded number of requests in
flight (closed loop: as fast as the server answers) or a fixed offered rate (open loop: requests start on a
schedule whether or not earlier ones have been answered).

Requests are prepared (bodies encoded, Twilio signatures computed) before the clock starts, so the generator spends
its time on the wire, not on HMACs. Send and answer times are CLOCK_MONOTONIC, comparable with the carrier's.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector
from twilio.request_validator import RequestValidator

from bench.carrier import body_tag

REQUEST_TIMEOUT_SECONDS = 30.0
# gunicorn closes idle keep-alive connections after 5 s (webhooks/gunicorn_config.py); drop ours first, so a
# request is never written into a connection the server is closing.
CLIENT_KEEPALIVE_SECONDS = 4.0
LATE_THRESHOLD_SECONDS = 0.05


@dataclass(frozen=True)
class PreparedRequest:
    sequence: int  # the number in the body's tag
    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    from_address: str
    to_address: str


@dataclass(frozen=True)
class Pair:
    """Who writes (address) to which number (proxy address)."""

    address: str
    proxy_address: str


def twilio_inbound_requests(
    bridge_url: str, account_sid: str, auth_token: str, pairs: Sequence[Pair], run_id: str, count: int
) -> list[PreparedRequest]:
    """Signed Twilio inbound webhooks, message n from pairs[n % len(pairs)], exactly as Twilio posts them."""
    url = f"{bridge_url}/webhooks/twilio/inbound"
    validator = RequestValidator(auth_token)
    prepared = []
    for sequence in range(count):
        pair = pairs[sequence % len(pairs)]
        sid = f"SM{run_id}{sequence:026d}"  # 34 characters, unique per run
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": account_sid,
            "From": pair.address,
            "To": pair.proxy_address,
            "Body": body_tag(run_id, sequence),
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, params),
        }
        prepared.append(
            PreparedRequest(
                sequence, "POST", url, urlencode(params).encode(), headers, pair.address, pair.proxy_address
            )
        )
    return prepared


def kannel_inbound_requests(
    smsc_url: str, username: str, password: str, pairs: Sequence[Pair], run_id: str, count: int
) -> list[PreparedRequest]:
    """Kannel's generic HTTP SMSC authenticates from the query string, so everything goes there (peers.md 2.1)."""
    prepared = []
    for sequence in range(count):
        pair = pairs[sequence % len(pairs)]
        query = urlencode(
            {
                "username": username,
                "password": password,
                "from": pair.address,
                "to": pair.proxy_address,
                "text": body_tag(run_id, sequence),
            }
        )
        prepared.append(
            PreparedRequest(sequence, "GET", f"{smsc_url}/?{query}", None, {}, pair.address, pair.proxy_address)
        )
    return prepared


@dataclass
class LoadResult:
    sent_at: dict[int, float] = field(default_factory=dict)  # sequence -> when the request started
    answered_at: dict[int, float] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)  # 0: no HTTP answer (connection error, timeout)
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0
    late_starts: int = 0  # open loop: requests that started more than 50 ms after their slot

    def accepted(self, ok_statuses: Sequence[int]) -> list[int]:
        return sorted(sequence for sequence, status in self.status.items() if status in ok_statuses)

    def latencies(self, ok_statuses: Sequence[int]) -> list[float]:
        return [self.answered_at[s] - self.sent_at[s] for s in self.accepted(ok_statuses)]


async def _issue(session: ClientSession, request: PreparedRequest, result: LoadResult) -> None:
    result.sent_at[request.sequence] = time.monotonic()
    try:
        async with session.request(request.method, request.url, data=request.body, headers=request.headers) as answer:
            await answer.read()
            status = answer.status
    except (ClientError, TimeoutError) as error:
        result.errors[type(error).__name__] += 1
        status = 0
    result.answered_at[request.sequence] = time.monotonic()
    result.status[request.sequence] = status
    if status and status >= 300:
        result.errors[f"HTTP {status}"] += 1


def _session(connections: int) -> ClientSession:
    connector = TCPConnector(limit=connections, limit_per_host=connections, keepalive_timeout=CLIENT_KEEPALIVE_SECONDS)
    return ClientSession(connector=connector, timeout=ClientTimeout(total=REQUEST_TIMEOUT_SECONDS))


async def closed_loop(requests: Sequence[PreparedRequest], concurrency: int) -> LoadResult:
    """`concurrency` keep-alive clients, each sending its next request as soon as the last one is answered."""
    result = LoadResult()
    queue = iter(requests)
    async with _session(concurrency) as session:

        async def client() -> None:
            for request in queue:  # a shared iterator: each request is taken by exactly one client
                await _issue(session, request, result)

        result.started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.finished = time.monotonic()
    return result


async def open_loop(requests: Sequence[PreparedRequest], per_second: float, max_in_flight: int = 512) -> LoadResult:
    """Request n starts at start + n / per_second (if fewer than `max_in_flight` are unanswered; a request that
    has to wait for a slot is counted as a late start)."""
    result = LoadResult()
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []
    async with _session(max_in_flight) as session:

        async def one(request: PreparedRequest) -> None:
            try:
                await _issue(session, request, result)
            finally:
                slots.release()

        result.started = start = time.monotonic()
        for n, request in enumerate(requests):
            delay = start + n / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            if time.monotonic() - (start + n / per_second) > LATE_THRESHOLD_SECONDS:
                result.late_starts += 1
            tasks.append(asyncio.create_task(one(request)))
        await asyncio.gather(*tasks)
        result.finished = time.monotonic()
    return result

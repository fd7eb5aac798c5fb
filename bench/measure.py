"""Workloads and what is measured of them: inbound accept rate and latency, and relays counted at the carrier
(webhook-to-carrier latency, lost, duplicate and misrouted sends)."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import LoadResult, Pair, PreparedRequest, closed_loop, open_loop
from bench.stack import CarrierProcess
from bench.stats import percentile

# After the carrier holds every expected send, wait this long before counting, so a late duplicate is seen.
SETTLE_SECONDS = 1.0


def new_run_id() -> str:
    """Six characters that tag one measured run's messages (bodies, MessageSids) and nothing else."""
    return secrets.token_hex(3)


@dataclass(frozen=True)
class Rooms:
    """M conversations of `parties` SMS participants each, all writing to one proxy number.

    Message n comes from room n % M, written by participant (n // M) % parties, so consecutive messages land in
    different conversations and every participant writes in turn; it is expected at every other participant.
    """

    members: list[list[str]]
    proxy_address: str

    @classmethod
    def numbered(cls, count: int, parties: int, proxy_address: str, first_number: int) -> Rooms:
        """E.164 addresses counting up from `first_number` (digits after the +, say 1_628_000_0000)."""
        members = [[f"+{first_number + room * parties + slot}" for slot in range(parties)] for room in range(count)]
        return cls(members, proxy_address)

    @property
    def parties(self) -> int:
        return len(self.members[0])

    def author(self, sequence: int) -> Pair:
        room = self.members[sequence % len(self.members)]
        return Pair(room[(sequence // len(self.members)) % len(room)], self.proxy_address)

    def recipients(self, sequence: int) -> list[str]:
        room = self.members[sequence % len(self.members)]
        author = room[(sequence // len(self.members)) % len(room)]
        return [address for address in room if address != author]

    def authors(self, count: int) -> list[Pair]:
        return [self.author(n) for n in range(count)]

    def as_pairs(self) -> list[list[Pair]]:
        return [[Pair(address, self.proxy_address) for address in room] for room in self.members]

    def kannel_routes(self) -> list[tuple[str, str, str]]:
        """(proxy, sender, other) for two-party rooms: the router's lookup table."""
        if self.parties != 2:
            raise ValueError("Kannel's router picks one other participant: rooms must be two-party")
        return [(self.proxy_address, a, b) for a, b in self.members] + [
            (self.proxy_address, b, a) for a, b in self.members
        ]


@dataclass
class RelayTarget:
    """Where a relay workload is sent and how its answers read."""

    name: str
    rooms: Rooms
    prepare: Callable[[Sequence[Pair], str, int], list[PreparedRequest]]  # (authors, run id, count) -> requests
    ok_statuses: tuple[int, ...]


@dataclass
class RelayOutcome:
    system: str
    parties: int
    inbound: int
    accepted: int
    expected_sends: int
    delivered: int
    lost: int
    duplicates: int
    misrouted: int
    timed_out: bool
    load_seconds: float  # first webhook sent -> last webhook answered
    relay_seconds: float  # first webhook sent -> last expected send at the carrier
    offered_per_second: float | None
    late_starts: int
    accept_latencies: list[float] = field(repr=False)
    send_latencies: list[float] = field(repr=False)  # per send: carrier receive - webhook start
    message_latencies: list[float] = field(repr=False)  # per inbound message: its last send - webhook start

    @property
    def relays_per_second(self) -> float:
        complete = len(self.message_latencies)
        return complete / self.relay_seconds if self.relay_seconds > 0 else math.nan

    @property
    def sends_per_second(self) -> float:
        return self.delivered / self.relay_seconds if self.relay_seconds > 0 else math.nan

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.load_seconds if self.load_seconds > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        """The JSON form: counts, rates and percentiles, not the raw samples."""
        return {
            "system": self.system,
            "parties": self.parties,
            "inbound": self.inbound,
            "accepted": self.accepted,
            "expected_sends": self.expected_sends,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "misrouted": self.misrouted,
            "timed_out": self.timed_out,
            "load_seconds": self.load_seconds,
            "relay_seconds": self.relay_seconds,
            "offered_per_second": self.offered_per_second,
            "late_starts": self.late_starts,
            "relays_per_second": self.relays_per_second,
            "sends_per_second": self.sends_per_second,
            "accepted_per_second": self.accepted_per_second,
            "accept_p50": percentile(self.accept_latencies, 0.5),
            "accept_p99": percentile(self.accept_latencies, 0.99),
            "send_p50": percentile(self.send_latencies, 0.5),
            "send_p99": percentile(self.send_latencies, 0.99),
            "message_p50": percentile(self.message_latencies, 0.5),
            "message_p99": percentile(self.message_latencies, 0.99),
        }

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicates or self.misrouted or self.timed_out or self.accepted < self.inbound)


def generate(requests: Sequence[PreparedRequest], concurrency: int | None, per_second: float | None) -> LoadResult:
    """Closed loop with `concurrency` clients, or open loop at `per_second`."""
    if per_second:
        return asyncio.run(open_loop(requests, per_second))
    return asyncio.run(closed_loop(requests, concurrency or 16))


def relay(
    target: RelayTarget,
    carrier: CarrierProcess,
    count: int,
    *,
    concurrency: int | None = 16,
    per_second: float | None = None,
    drain_timeout: float = 120.0,
) -> RelayOutcome:
    """Sends `count` inbound messages and waits until the carrier holds every expected send (or the timeout)."""
    run_id = new_run_id()
    requests = target.prepare(target.rooms.authors(count), run_id, count)
    load = generate(requests, concurrency, per_second)
    accepted = load.accepted(target.ok_statuses)
    expected = {(sequence, to) for sequence in accepted for to in target.rooms.recipients(sequence)}
    reached = carrier.wait_for_sends(run_id, len(expected), drain_timeout)
    time.sleep(SETTLE_SECONDS)
    records = carrier.records(run_id)
    received: Counter[tuple[int, str]] = Counter()
    first_arrival: dict[tuple[int, str], float] = {}
    for sequence, to, received_at in records["sends"]:
        key = (int(sequence), str(to))
        received[key] += 1
        first_arrival.setdefault(key, float(received_at))
    delivered_keys = expected & received.keys()
    send_latencies = [first_arrival[key] - load.sent_at[key[0]] for key in delivered_keys]
    message_latencies = []
    for sequence in accepted:
        arrivals = [first_arrival.get((sequence, to)) for to in target.rooms.recipients(sequence)]
        if all(arrival is not None for arrival in arrivals):
            message_latencies.append(max(a for a in arrivals if a is not None) - load.sent_at[sequence])
    last_arrival = max((first_arrival[key] for key in delivered_keys), default=load.started)
    return RelayOutcome(
        system=target.name,
        parties=target.rooms.parties,
        inbound=count,
        accepted=len(accepted),
        expected_sends=len(expected),
        delivered=len(delivered_keys),
        lost=len(expected - received.keys()),
        duplicates=sum(n - 1 for n in received.values() if n > 1),
        misrouted=len(received.keys() - expected),
        timed_out=not reached,
        load_seconds=load.finished - load.started,
        relay_seconds=last_arrival - load.started,
        offered_per_second=per_second,
        late_starts=load.late_starts,
        accept_latencies=load.latencies(target.ok_statuses),
        send_latencies=send_latencies,
        message_latencies=message_latencies,
    )


@dataclass
class AcceptOutcome:
    system: str
    requests: int
    accepted: int
    seconds: float
    latencies: list[float] = field(repr=False)
    errors: dict[str, int] = field(default_factory=dict)
    offered_per_second: float | None = None
    late_starts: int = 0

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "requests": self.requests,
            "accepted": self.accepted,
            "seconds": self.seconds,
            "accepted_per_second": self.accepted_per_second,
            "offered_per_second": self.offered_per_second,
            "late_starts": self.late_starts,
            "p50": percentile(self.latencies, 0.5),
            "p99": percentile(self.latencies, 0.99),
            "errors": self.errors,
        }


def accept(
    system: str,
    requests: Sequence[PreparedRequest],
    *,
    concurrency: int | None = 16,
    per_second: float | None = None,
    ok_statuses: tuple[int, ...] = (200,),
) -> AcceptOutcome:
    """How fast and how quickly webhooks are answered, nothing downstream."""
    load = generate(requests, concurrency, per_second)
    return AcceptOutcome(
        system=system,
        requests=len(requests),
        accepted=len(load.accepted(ok_statuses)),
        seconds=load.finished - load.started,
        latencies=load.latencies(ok_statuses),
        errors=dict(load.errors),
        offered_per_second=per_second,
        late_starts=load.late_starts,
    )

"""Benchmarks of the bridge, with Kannel and a bare Flask app measured beside it in the same run. See README.md.

    python bench/run.py inbound|relay|memory|latency|scale|hooks|gateway|all [--quick] [options]

Each benchmark starts a private stack on loopback (scratch PostgreSQL database, one Redis database number,
gunicorn with the production config, Celery worker and beat as in the Procfile, the chat gateway where measured,
the asynchronous fake carrier, Kannel where compared), prints a markdown table, and tears everything down, also on
Ctrl-C or failure. Exit status 1 if any message or chat event was lost, duplicated or misrouted, a webhook was
refused or a chat socket failed; the numbers themselves never fail a run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from bench import bindings, machine
from bench.chat import ChatSocket, EventsOutcome, Fleet, Session, SocketsOutcome, run_until_done
from bench.kannel import KannelStack
from bench.loadgen import Pair, PreparedRequest, kannel_inbound_requests, twilio_inbound_requests
from bench.measure import AcceptOutcome, RelayOutcome, RelayTarget, Rooms, accept, new_run_id, relay
from bench.stack import (
    REPOSITORY,
    BareFlaskStack,
    BridgeStack,
    CarrierProcess,
    CpuMeter,
    ProcessSet,
    StackSettings,
    children_of,
    postgres_backends,
    proc_status_kb,
    scratch_database,
)
from bench.stats import markdown_table, ms, percentile, ratio

PROXY = "+12015550100"  # the sender every benchmark conversation writes to
THREE_PARTY_NUMBERS = 1_628_000_0000  # E.164 digits of REST-created participants (bulk ones are +1415...)
TWO_PARTY_NUMBERS = 1_628_100_0000
GATEWAY_NUMBERS = 1_628_200_0000  # the one SMS participant of each gateway benchmark conversation
OUT = REPOSITORY / "bench" / "out"
WEB_RSS_GOAL_MB = 120
CELERY_RSS_GOAL_MB = 150


class BenchTimeout(Exception):
    """The whole run went over --time-limit."""


# -- options ----------------------------------------------------------------------------------------------------


@dataclass
class Sizes:
    """How much each benchmark sends; --quick shrinks all of them."""

    inbound_count: int = 5000
    relay_count: int = 3000
    conversations: int = 100
    warmup: int = 200
    rates: list[float] = field(default_factory=lambda: [25, 50, 100, 200, 400])
    seconds_per_rate: float = 10.0
    small_bindings: int = 1_000
    large_bindings: int = 1_000_000
    scale_count: int = 2000
    scale_concurrency: int = 2  # little queueing: the latency is the work per webhook, not the wait for a thread
    sockets: int = 2000
    sockets_per_conversation: int = 10
    warmup_sockets: int = 20
    gateway_rate: float = 100.0
    gateway_seconds: float = 30.0
    idle_seconds: float = 10.0
    drain_timeout: float = 600.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            inbound_count=200,
            relay_count=200,
            conversations=20,
            warmup=20,
            rates=[50, 200],
            seconds_per_rate=2.0,
            small_bindings=1_000,
            large_bindings=20_000,
            scale_count=200,
            sockets=40,
            warmup_sockets=4,
            gateway_seconds=2.0,
            idle_seconds=2.0,
            drain_timeout=120.0,
        )


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "benchmark", choices=["inbound", "relay", "memory", "latency", "scale", "hooks", "gateway", "all"]
    )
    parser.add_argument("--quick", action="store_true", help="small counts, a few seconds per benchmark (CI)")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server (any database on it); a scratch database is created and dropped",
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/13",
        help="a Redis database number of our own: flushed before and after each stack",
    )
    parser.add_argument("--count", type=int, help="inbound messages per measured run (inbound, relay, scale)")
    parser.add_argument("--conversations", type=int, help="conversations the relay messages are spread over")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients (inbound, relay)")
    parser.add_argument("--rates", help="offered rates for the latency sweep, e.g. 25,50,100,200,400")
    parser.add_argument("--seconds-per-rate", type=float, help="length of each latency sweep point")
    parser.add_argument("--large-bindings", type=int, help="active bindings of the scale benchmark's big case")
    parser.add_argument("--sockets", type=int, help="chat sockets the gateway benchmark holds (default 2000)")
    parser.add_argument(
        "--sockets-per-conversation", type=int, help="chat participants (sockets) per conversation (default 10)"
    )
    parser.add_argument("--gateway-rate", type=float, help="inbound SMS per second during the gateway benchmark")
    parser.add_argument("--gateway-seconds", type=float, help="length of the gateway benchmark's inbound load")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="chat sockets connecting at once (gateway)")
    parser.add_argument(
        "--no-deflate", action="store_true", help="chat clients do not offer permessage-deflate (the SDK's ws does)"
    )
    parser.add_argument("--web-concurrency", type=int, help="gunicorn workers (WEB_CONCURRENCY, default 2)")
    parser.add_argument("--web-threads", type=int, help="threads per gunicorn worker (WEB_THREADS, default 4)")
    parser.add_argument("--celery-concurrency", type=int, help="Celery threads (CELERY_CONCURRENCY, default 8)")
    parser.add_argument(
        "--celery-workers", type=int, default=2, help="Celery worker processes (one per core, as deployed)"
    )
    parser.add_argument("--log-level", default="INFO", help="the bridge's LOG_LEVEL (production default INFO)")
    parser.add_argument(
        "--status-callbacks",
        action="store_true",
        help="the fake carrier posts signed sent/delivered callbacks to the bridge",
    )
    parser.add_argument("--no-kannel", action="store_true", help="skip Kannel (relay, latency)")
    parser.add_argument("--json", type=Path, help="write the results here (default bench/out/<benchmark>-<time>.json)")
    parser.add_argument("--plot", type=Path, help="write the latency plot here (latency, all)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, kannel.conf) afterwards")
    parser.add_argument("--time-limit", type=float, help="seconds for the whole run (default 5400, quick 900)")
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.count:
        sizes.inbound_count = sizes.relay_count = sizes.scale_count = args.count
    if args.conversations:
        sizes.conversations = args.conversations
    if args.rates:
        sizes.rates = [float(rate) for rate in args.rates.split(",")]
    if args.seconds_per_rate:
        sizes.seconds_per_rate = args.seconds_per_rate
    if args.large_bindings:
        sizes.large_bindings = args.large_bindings
    if args.sockets:
        sizes.sockets = args.sockets
    if args.sockets_per_conversation:
        sizes.sockets_per_conversation = args.sockets_per_conversation
    if args.gateway_rate:
        sizes.gateway_rate = args.gateway_rate
    if args.gateway_seconds:
        sizes.gateway_seconds = args.gateway_seconds
    return sizes


def stack_settings(args: argparse.Namespace) -> StackSettings:
    settings = StackSettings(celery_workers=args.celery_workers, log_level=args.log_level.upper())
    if args.web_concurrency:
        settings.web_concurrency = args.web_concurrency
    if args.web_threads:
        settings.web_threads = args.web_threads
    if args.celery_concurrency:
        settings.celery_concurrency = args.celery_concurrency
    return settings


# -- stacks ------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One invocation: options, its work folder, and the results gathered so far."""

    args: argparse.Namespace
    sizes: Sizes
    workdir: Path
    results: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @contextmanager
    def environment(self, name: str) -> Iterator[tuple[ProcessSet, CarrierProcess]]:
        """A process set and a started fake carrier; everything in the set is stopped on the way out."""
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        processes = ProcessSet(folder)
        try:
            carrier = CarrierProcess(processes, status_callbacks=self.args.status_callbacks)
            carrier.start()
            yield processes, carrier
        finally:
            processes.stop_all()

    @contextmanager
    def bridge(self, processes: ProcessSet, carrier: CarrierProcess, workers: bool) -> Iterator[BridgeStack]:
        broker = redis.Redis.from_url(self.args.redis, socket_timeout=10)
        broker.flushdb()
        try:
            with scratch_database(self.args.postgres) as database_url:
                stack = BridgeStack(
                    processes, processes.workdir, database_url, self.args.redis, carrier, stack_settings(self.args)
                )
                try:
                    stack.migrate()
                    stack.start_web()
                    if workers:
                        stack.start_workers()
                        stack.start_beat()
                    yield stack
                finally:
                    processes.stop_all()  # before the database is dropped under them
        finally:
            broker.flushdb()

    def check(self, outcome: RelayOutcome | AcceptOutcome, where: str) -> None:
        if isinstance(outcome, RelayOutcome) and not outcome.clean:
            self.problems.append(
                f"{where}: {outcome.system}: accepted {outcome.accepted}/{outcome.inbound}, lost {outcome.lost}, "
                f"duplicates {outcome.duplicates}, misrouted {outcome.misrouted}, timed out {outcome.timed_out}"
            )
        if isinstance(outcome, AcceptOutcome) and outcome.accepted < outcome.requests:
            self.problems.append(
                f"{where}: {outcome.system}: {outcome.requests - outcome.accepted} refused ({outcome.errors})"
            )

    def check_gateway(self, connected: SocketsOutcome, events: EventsOutcome) -> None:
        if connected.subscribed < connected.sockets:
            self.problems.append(
                f"gateway: {connected.sockets - connected.subscribed} of {connected.sockets} sockets did not "
                f"connect and subscribe ({dict(connected.failures)})"
            )
        if not events.clean:
            self.problems.append(
                f"gateway: accepted {events.accepted}/{events.sent}, lost {events.lost} (at every socket "
                f"{events.fanout_lost}), duplicates {events.duplicates}, misrouted {events.misrouted}, timed out "
                f"{events.timed_out}, sockets closed early {len(events.closed_early)} {events.closed_early[:3]}; "
                f"first missing: {events.missing}; first duplicates: {events.duplicate_detail[:5]}"
            )


def bridge_target(name: str, stack: BridgeStack, carrier: CarrierProcess, rooms: Rooms) -> RelayTarget:
    def prepare(authors: Sequence[Pair], run_id: str, count: int) -> list[PreparedRequest]:
        return twilio_inbound_requests(stack.url, carrier.account_sid, carrier.auth_token, authors, run_id, count)

    return RelayTarget(name, rooms, prepare, (200,))


def kannel_target(kannel: KannelStack, rooms: Rooms) -> RelayTarget:
    def prepare(authors: Sequence[Pair], run_id: str, count: int) -> list[PreparedRequest]:
        return kannel_inbound_requests(kannel.smsc_url, kannel.username, kannel.password, authors, run_id, count)

    return RelayTarget("Kannel", rooms, prepare, (202,))


def warm_up(target: RelayTarget, carrier: CarrierProcess, count: int) -> None:
    """Connection pools, imports and caches, before the clock starts; not counted."""
    outcome = relay(target, carrier, count, concurrency=4, drain_timeout=60)
    if not outcome.clean:
        raise RuntimeError(f"warm-up through {target.name} did not relay cleanly: {outcome.summary()}")


@contextmanager
def kannel_running(processes: ProcessSet, carrier: CarrierProcess, rooms: Rooms) -> Iterator[KannelStack]:
    folder = processes.workdir / "kannel"
    folder.mkdir(exist_ok=True)
    kannel = KannelStack(processes, folder, carrier.url)
    try:
        kannel.start()
        carrier.set_routes(rooms.kannel_routes())
        yield kannel
    finally:
        for managed in [m for m in processes.running if m.name in ("smsbox", "bearerbox")]:
            processes.stop(managed)


# -- memory -------------------------------------------------------------------------------------------------------


class PeakRss:
    """Polls VmRSS of some processes (5 times a second) and also reads their VmHWM: the peak, in MB."""

    def __init__(self, groups: Callable[[], dict[str, list[int]]]) -> None:
        self.groups = groups
        self.peak_kb: dict[tuple[str, int], int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self.stop.set()
        self.thread.join(timeout=5)

    def _poll(self) -> None:
        while not self.stop.wait(0.2):
            self.sample()

    def sample(self) -> None:
        for group, pids in self.groups().items():
            for pid in pids:
                for field_name in ("VmRSS", "VmHWM"):
                    value = proc_status_kb(pid, field_name)
                    if value is not None:
                        key = (group, pid)
                        self.peak_kb[key] = max(self.peak_kb.get(key, 0), value)

    def rows(self) -> list[dict[str, Any]]:
        by_group: dict[str, list[int]] = {}
        for (group, _pid), kb in sorted(self.peak_kb.items()):
            by_group.setdefault(group, []).append(kb)
        return [
            {"process": group, "count": len(values), "peak_mb": [round(kb / 1024, 1) for kb in values]}
            for group, values in by_group.items()
        ]


# -- the benchmarks --------------------------------------------------------------------------------------------------


def bench_inbound(run: Run) -> dict[str, Any]:
    sizes, args = run.sizes, run.args
    print(f"\n## inbound ceiling: {sizes.inbound_count} signed webhooks, {args.concurrency} keep-alive clients")
    with run.environment("inbound") as (processes, carrier), run.bridge(processes, carrier, workers=False) as stack:
        rooms = Rooms.numbered(sizes.conversations, 3, PROXY, THREE_PARTY_NUMBERS)
        stack.add_senders([PROXY])
        stack.create_conversations(rooms.as_pairs())
        bare = BareFlaskStack(processes, stack_settings(args))
        bare.start()

        def requests_to(url: str, count: int) -> list[PreparedRequest]:
            authors = rooms.authors(count)
            return twilio_inbound_requests(url, carrier.account_sid, carrier.auth_token, authors, new_run_id(), count)

        outcomes: dict[str, AcceptOutcome] = {}
        # Bare, bridge, bare again: the ceiling is the better of the two, so drift cannot flatter the ratio.
        for label, url in [("bare Flask", bare.url), ("bridge", stack.url), ("bare Flask", bare.url)]:
            accept(label, requests_to(url, sizes.warmup), concurrency=args.concurrency)
            outcome = accept(label, requests_to(url, sizes.inbound_count), concurrency=args.concurrency)
            run.check(outcome, "inbound")
            previous = outcomes.get(label)
            if previous is None or outcome.accepted_per_second > previous.accepted_per_second:
                outcomes[label] = outcome
    ceiling, bridge = outcomes["bare Flask"], outcomes["bridge"]
    rows = [
        [
            o.system,
            o.requests,
            o.accepted,
            f"{o.accepted_per_second:.0f}",
            ms(percentile(o.latencies, 0.5)),
            ms(percentile(o.latencies, 0.99)),
            sum(o.errors.values()),
        ]
        for o in (ceiling, bridge)
    ]
    print(markdown_table(["server", "webhooks", "accepted", "accepted/s", "p50 ms", "p99 ms", "errors"], rows))
    share = bridge.accepted_per_second / ceiling.accepted_per_second
    print(f"\nbridge / bare Flask ceiling: {share:.2f} (goal >= 0.50: {'reached' if share >= 0.5 else 'not reached'})")
    return {"ceiling": ceiling.summary(), "bridge": bridge.summary(), "ratio": share}


def relay_rows(outcomes: Sequence[RelayOutcome]) -> list[list[object]]:
    return [
        [
            o.system,
            o.parties,
            o.inbound,
            o.expected_sends,
            o.delivered,
            o.lost,
            o.duplicates,
            o.misrouted,
            f"{o.relays_per_second:.0f}",
            f"{o.sends_per_second:.0f}",
            f"{o.accepted_per_second:.0f}",
            ms(percentile(o.send_latencies, 0.5)),
            ms(percentile(o.send_latencies, 0.99)),
            ms(percentile(o.message_latencies, 0.99)),
        ]
        for o in outcomes
    ]


RELAY_HEADERS = [
    "system",
    "parties",
    "inbound",
    "sends expected",
    "delivered",
    "lost",
    "dup",
    "misrouted",
    "relays/s",
    "sends/s",
    "webhooks/s",
    "send p50 ms",
    "send p99 ms",
    "message p99 ms",
]


def bench_relay(run: Run, with_kannel: bool = True) -> dict[str, Any]:
    sizes, args = run.sizes, run.args
    print(
        f"\n## end-to-end relay: {sizes.relay_count} inbound over {sizes.conversations} conversations, "
        f"{args.concurrency} keep-alive clients"
    )
    outcomes: list[RelayOutcome] = []
    cpu: list[tuple[RelayOutcome, CpuMeter]] = []
    with run.environment("relay") as (processes, carrier), run.bridge(processes, carrier, workers=True) as stack:
        three = Rooms.numbered(sizes.conversations, 3, PROXY, THREE_PARTY_NUMBERS)
        two = Rooms.numbered(sizes.conversations, 2, PROXY, TWO_PARTY_NUMBERS)
        stack.add_senders([PROXY])
        stack.create_conversations(three.as_pairs())
        stack.create_conversations(two.as_pairs())
        targets = [bridge_target("bridge", stack, carrier, three), bridge_target("bridge", stack, carrier, two)]
        groups = {
            "gunicorn web worker": stack.web_worker_pids,
            "gunicorn master": lambda: [stack.web.process.pid] if stack.web else [],
            "Celery worker": stack.celery_worker_pids,
        }
        kannel_pids: dict[str, int] = {}
        with PeakRss(lambda: {name: pids() for name, pids in groups.items()}) as memory:
            for target in targets:
                warm_up(target, carrier, sizes.warmup)
                meter = CpuMeter(lambda: bridge_cpu_groups(stack, carrier))
                meter.start()
                outcome = relay(
                    target, carrier, sizes.relay_count, concurrency=args.concurrency, drain_timeout=sizes.drain_timeout
                )
                meter.stop()
                run.check(outcome, "relay")
                outcomes.append(outcome)
                cpu.append((outcome, meter))
        kannel_memory: PeakRss | None = None
        if with_kannel:
            with kannel_running(processes, carrier, two) as kannel:
                kannel_pids = kannel.pids()
                with PeakRss(lambda: {f"Kannel {name}": [pid] for name, pid in kannel_pids.items()}) as kannel_memory:
                    target = kannel_target(kannel, two)
                    warm_up(target, carrier, sizes.warmup)
                    meter = CpuMeter(lambda: kannel_cpu_groups(kannel, carrier))
                    meter.start()
                    outcome = relay(
                        target,
                        carrier,
                        sizes.relay_count,
                        concurrency=args.concurrency,
                        drain_timeout=sizes.drain_timeout,
                    )
                    meter.stop()
                    run.check(outcome, "relay")
                    outcomes.append(outcome)
                    cpu.append((outcome, meter))
        ledger = carrier.records("")  # carrier-wide counters
    print(markdown_table(RELAY_HEADERS, relay_rows(outcomes)))
    result: dict[str, Any] = {"runs": [o.summary() for o in outcomes]}
    if args.status_callbacks:
        posted, failed = ledger["callbacks_posted"], ledger["callbacks_failed"]
        print(f"status callbacks posted to the bridge: {posted} answered 200, {failed} failed")
        result["status_callbacks"] = {"posted": posted, "failed": failed}
    kannel_outcome = next((o for o in outcomes if o.system == "Kannel"), None)
    if kannel_outcome is not None:
        result["ratios"] = relay_ratios(outcomes, kannel_outcome)
        for line in result["ratios"]["lines"]:
            print(line)
    result["cpu"] = print_cpu(cpu)
    memory_rows = memory.rows() + (kannel_memory.rows() if kannel_memory else [])
    result["memory"] = memory_rows
    print_memory(memory_rows)
    return result


def relay_ratios(outcomes: Sequence[RelayOutcome], kannel: RelayOutcome) -> dict[str, Any]:
    ratios: dict[str, Any] = {"lines": []}
    for o in outcomes:
        if o is kannel:
            continue
        key = f"bridge_{o.parties}_party"
        ratios[key] = {
            "per_inbound": o.relays_per_second / kannel.relays_per_second,
            "per_send": o.sends_per_second / kannel.sends_per_second,
        }
        ratios["lines"].append(
            f"bridge ({o.parties}-party) / Kannel (2-party): "
            f"per inbound {ratio(o.relays_per_second, kannel.relays_per_second)}, "
            f"per send {ratio(o.sends_per_second, kannel.sends_per_second)}"
        )
    return ratios


def own_processes(carrier: CarrierProcess) -> dict[str, list[int]]:
    return {"fake carrier": [carrier.managed.process.pid], "load generator and orchestrator": [os.getpid()]}


def bridge_cpu_groups(stack: BridgeStack, carrier: CarrierProcess) -> dict[str, list[int]]:
    beat = [m.process.pid for m in stack.processes.running if m.name == "beat"]
    return {
        "gunicorn web workers": stack.web_worker_pids(),
        "Celery worker": stack.celery_worker_pids(),
        "Celery webhook worker": stack.hooks_worker_pids(),
        "Celery beat": beat,
        "PostgreSQL backends (this database)": postgres_backends(stack.database_url),
        "Redis server (whole server)": [redis_server_pid(stack.redis_url)],
        **own_processes(carrier),
    }


def kannel_cpu_groups(kannel: KannelStack, carrier: CarrierProcess) -> dict[str, list[int]]:
    return {f"Kannel {name}": [pid] for name, pid in kannel.pids().items()} | own_processes(carrier)


def redis_server_pid(url: str) -> int:
    return int(redis.Redis.from_url(url, socket_timeout=5).info("server")["process_id"])


def print_cpu(runs: Sequence[tuple[RelayOutcome, CpuMeter]]) -> list[dict[str, Any]]:
    """CPU seconds per process group during each measured relay, and per inbound message: where the time went."""
    groups: list[str] = []
    for _outcome, meter in runs:
        groups += [group for group in meter.used if group not in groups]
    headers = ["process group"] + [f"{o.system} {o.parties}-party: CPU s (ms per inbound)" for o, _ in runs]
    rows = []
    for group in groups:
        cells: list[object] = [group]
        for outcome, meter in runs:
            seconds = meter.used.get(group)
            cells.append("-" if seconds is None else f"{seconds:.1f} ({seconds / outcome.inbound * 1000:.1f})")
        rows.append(cells)
    rows.append(["wall clock of the run", *(f"{meter.wall_seconds:.1f}" for _o, meter in runs)])
    print("\nCPU time during each relay run (2 cores = 2 CPU s per wall second)")
    print(markdown_table(headers, rows))
    return [
        {"system": o.system, "parties": o.parties, "wall_seconds": m.wall_seconds, "cpu_seconds": m.used}
        for o, m in runs
    ]


def print_memory(rows: Sequence[dict[str, Any]]) -> None:
    goals = {"gunicorn web worker": WEB_RSS_GOAL_MB, "Celery worker": CELERY_RSS_GOAL_MB}
    table = []
    for row in rows:
        goal = goals.get(row["process"])
        peak = max(row["peak_mb"])
        verdict = "-" if goal is None else f"<= {goal}: {'reached' if peak <= goal else 'not reached'}"
        table.append([row["process"], row["count"], ", ".join(f"{mb:.0f}" for mb in row["peak_mb"]), verdict])
    print("\npeak RSS under the relay load (VmHWM / polled VmRSS)")
    print(markdown_table(["process", "processes", "peak RSS MB (each)", "goal"], table))


def bench_memory(run: Run) -> dict[str, Any]:
    return bench_relay(run, with_kannel=not run.args.no_kannel)


def bench_latency(run: Run) -> dict[str, Any]:
    sizes, args = run.sizes, run.args
    rates = sizes.rates
    print(f"\n## latency under load: offered {', '.join(f'{r:g}' for r in rates)}/s, {sizes.seconds_per_rate:g} s each")
    sweep: dict[str, list[dict[str, Any]]] = {"bridge": [], "kannel": []}
    outcomes: list[RelayOutcome] = []
    with ExitStack() as running:
        processes, carrier = running.enter_context(run.environment("latency"))
        stack = running.enter_context(run.bridge(processes, carrier, workers=True))
        three = Rooms.numbered(sizes.conversations, 3, PROXY, THREE_PARTY_NUMBERS)
        two = Rooms.numbered(sizes.conversations, 2, PROXY, TWO_PARTY_NUMBERS)
        stack.add_senders([PROXY])
        stack.create_conversations(three.as_pairs())
        targets = {"bridge": bridge_target("bridge", stack, carrier, three)}
        if not args.no_kannel:
            kannel = running.enter_context(kannel_running(processes, carrier, two))
            targets["kannel"] = kannel_target(kannel, two)
        for target in targets.values():
            warm_up(target, carrier, sizes.warmup)
        for offered in rates:
            count = max(1, int(offered * sizes.seconds_per_rate))
            for key, target in targets.items():  # the same rate for both, back to back: drift hits both alike
                outcome = relay(target, carrier, count, per_second=offered, drain_timeout=sizes.drain_timeout)
                run.check(outcome, f"latency {offered:g}/s")
                outcomes.append(outcome)
                sweep[key].append(outcome.summary())
                time.sleep(1.0)
    rows = [
        [
            f"{o.offered_per_second:g}",
            o.system,
            o.parties,
            o.inbound,
            o.late_starts,
            o.lost,
            o.duplicates,
            ms(percentile(o.accept_latencies, 0.5)),
            ms(percentile(o.send_latencies, 0.5)),
            ms(percentile(o.send_latencies, 0.99)),
            ms(percentile(o.message_latencies, 0.99)),
        ]
        for o in outcomes
    ]
    print(
        markdown_table(
            [
                "offered/s",
                "system",
                "parties",
                "inbound",
                "late starts",
                "lost",
                "dup",
                "accept p50 ms",
                "send p50 ms",
                "send p99 ms",
                "message p99 ms",
            ],
            rows,
        )
    )
    result: dict[str, Any] = {"sweep": sweep}
    fixed = [o for o in outcomes if o.offered_per_second == 200]
    if len(fixed) == 2:
        bridge, kannel = fixed
        goal = percentile(bridge.send_latencies, 0.5) <= percentile(kannel.send_latencies, 0.5) and percentile(
            bridge.send_latencies, 0.99
        ) <= percentile(kannel.send_latencies, 0.99)
        b50, b99 = percentile(bridge.send_latencies, 0.5), percentile(bridge.send_latencies, 0.99)
        k50, k99 = percentile(kannel.send_latencies, 0.5), percentile(kannel.send_latencies, 0.99)
        verdict = "reached" if goal else "not reached"
        print(
            f"\nat 200/s offered, bridge vs Kannel: p50 {ms(b50)} vs {ms(k50)} ms, p99 {ms(b99)} vs {ms(k99)} ms "
            f"(goal no worse: {verdict})"
        )
        result["fixed_200"] = {"bridge": bridge.summary(), "kannel": kannel.summary(), "goal_reached": goal}
    return result


def bench_scale(run: Run) -> dict[str, Any]:
    sizes = run.sizes
    print(
        f"\n## scale: accept latency with {sizes.small_bindings:,} and {sizes.large_bindings:,} active bindings, "
        f"{sizes.scale_count} webhooks from {sizes.scale_concurrency} keep-alive clients"
    )
    outcomes: list[tuple[int, AcceptOutcome]] = []
    table_notes: list[dict[str, Any]] = []
    with run.environment("scale") as (processes, carrier), run.bridge(processes, carrier, workers=False) as stack:
        stack.add_senders([PROXY])
        template = Rooms.numbered(1, 3, PROXY, THREE_PARTY_NUMBERS)
        template_sid = stack.create_conversations(template.as_pairs())[0]
        for target in (sizes.small_bindings, sizes.large_bindings):
            started = time.monotonic()
            active = bindings.add_bindings(stack.database_url, template_sid, target)
            print(f"  {active:,} active bindings ({time.monotonic() - started:.0f} s to insert and analyze)")
            # Writers picked at random across the whole table: cold index pages count too.
            pairs = bindings.sample_bindings(stack.database_url, sizes.scale_count, template_sid)

            def requests_for(count: int, pairs: list[Pair] = pairs) -> list[PreparedRequest]:
                return twilio_inbound_requests(
                    stack.url, carrier.account_sid, carrier.auth_token, pairs, new_run_id(), count
                )

            accept("warm-up", requests_for(sizes.warmup), concurrency=4)
            before, io_before = bindings.table_scans(stack.database_url), bindings.io_counters(stack.database_url)
            outcome = accept(f"{active:,}", requests_for(sizes.scale_count), concurrency=sizes.scale_concurrency)
            scans = bindings.scans_between(before, bindings.table_scans(stack.database_url))
            io = bindings.io_between(io_before, bindings.io_counters(stack.database_url), sizes.scale_count)
            print(f"  during the {active:,} run: {scans}; {io}")
            run.check(outcome, "scale")
            outcomes.append((active, outcome))
            table_notes.append({"active_bindings": active, "sequential_scans": scans, "io": io})
    small_p50, small_p99 = (percentile(outcomes[0][1].latencies, q) for q in (0.5, 0.99))
    rows = []
    for active, o in outcomes:
        p50, p99 = percentile(o.latencies, 0.5), percentile(o.latencies, 0.99)
        row = [f"{active:,}", o.requests, o.accepted, f"{o.accepted_per_second:.0f}", ms(p50), ms(p99)]
        rows.append([*row, ratio(p50, small_p50), ratio(p99, small_p99)])
    headers = ["active bindings", "webhooks", "accepted", "accepted/s", "accept p50 ms", "accept p99 ms"]
    print(markdown_table([*headers, "p50 vs small", "p99 vs small"], rows))
    growth = percentile(outcomes[-1][1].latencies, 0.5) / small_p50
    verdict = "reached" if growth <= 1.2 else "not reached"
    print(f"\nlarge / small accept p50: {growth:.2f} (goal within 1.2x: {verdict})")
    runs = [{"active_bindings": active, **o.summary()} for active, o in outcomes]
    return {"runs": runs, "p50_growth": growth, "scans": table_notes}


HOOK_EVENTS = ("onMessageAdded", "onDeliveryUpdated")


def bench_hooks(run: Run) -> dict[str, Any]:
    """The three-party relay without and then with a post-event webhook (onMessageAdded and onDeliveryUpdated, to
    the fake carrier's /hooks) in one stack, back to back: relays/s both ways, and the webhooks' lag."""
    sizes, args = run.sizes, run.args
    print(
        f"\n## relay with post-event webhooks: {sizes.relay_count} inbound over {sizes.conversations} three-party "
        f"conversations, {args.concurrency} keep-alive clients, without and with {', '.join(HOOK_EVENTS)}"
    )
    outcomes: list[RelayOutcome] = []
    lags: dict[str, list[float]] = {}
    with run.environment("hooks") as (processes, carrier), run.bridge(processes, carrier, workers=True) as stack:
        rooms = Rooms.numbered(sizes.conversations, 3, PROXY, THREE_PARTY_NUMBERS)
        stack.add_senders([PROXY])
        stack.create_conversations(rooms.as_pairs())
        target = bridge_target("bridge", stack, carrier, rooms)
        for hooked in (False, True):
            stack.configure_post_webhook(carrier.url + "/hooks" if hooked else None, HOOK_EVENTS)
            warm_up(target, carrier, sizes.warmup)
            before = carrier.records("")["hooks"]
            outcome = relay(
                target, carrier, sizes.relay_count, concurrency=args.concurrency, drain_timeout=sizes.drain_timeout
            )
            run.check(outcome, "hooks")
            outcome.system = "bridge + webhooks" if hooked else "bridge"
            outcomes.append(outcome)
            if hooked:
                expected = {"onMessageAdded": sizes.relay_count, "onDeliveryUpdated": sizes.relay_count * 2}
                lags = _wait_for_hooks(carrier, before, expected, timeout=sizes.drain_timeout)
    print(markdown_table(RELAY_HEADERS, relay_rows(outcomes)))
    rows = [
        [event, len(values), ms(percentile(values, 0.5)), ms(percentile(values, 0.99)), ms(max(values))]
        for event, values in lags.items()
        if values
    ]
    print(markdown_table(["webhook", "received", "lag p50", "lag p99", "lag max"], rows))
    plain, hooked = outcomes
    print(f"relays/s with webhooks / without: {ratio(hooked.relays_per_second, plain.relays_per_second)}")
    return {
        "runs": [o.summary() for o in outcomes],
        "lag_ms": {event: {"received": len(v), "p50": ms(percentile(v, 0.5)), "p99": ms(percentile(v, 0.99))}
                   for event, v in lags.items() if v},
    }  # fmt: skip


def _wait_for_hooks(
    carrier: CarrierProcess, before: dict[str, list[float]], expected: dict[str, int], timeout: float
) -> dict[str, list[float]]:
    """The lags of the webhooks received since `before`, once the expected number of each has arrived."""
    deadline = time.monotonic() + timeout
    while True:
        now = carrier.records("")["hooks"]
        fresh = {event: now.get(event, [])[len(before.get(event, [])) :] for event in expected}
        if all(len(fresh[event]) >= count for event, count in expected.items()) or time.monotonic() > deadline:
            return fresh
        time.sleep(0.5)


def raise_open_files(needed: int) -> int:
    """The soft RLIMIT_NOFILE up to `needed` (within the hard limit): this process holds every client socket, and
    the processes it starts from now on (the gateway) inherit the limit. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise RuntimeError(f"{needed} open files needed, the hard limit is {hard}: raise it (ulimit -Hn) first")
    return soft


def open_files_limit(pid: int) -> str:
    """The soft 'Max open files' of a running process, from /proc/<pid>/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    return "?"


def mint_tokens(stack: BridgeStack, identities: Sequence[str], ttl_seconds: int) -> list[str]:
    """One access token per identity, as an application's backend mints them: an API key of the account (made in
    the database, as `bridge token` and the tests do; there is no REST endpoint for keys) and the default
    Conversation Service."""
    from bridge import access_tokens, accounts
    from bridge.db import Database

    database = Database(stack.database_url)
    try:
        with database.transaction() as session:
            key = accounts.create_api_key(session, "bench gateway")
            service_sid = accounts.default_service(session).sid
    finally:
        database.engine.dispose()
    return [
        access_tokens.mint(stack.account_sid, key.sid, key.secret, identity, service_sid, ttl_seconds)
        for identity in identities
    ]


def bench_gateway(run: Run) -> dict[str, Any]:
    """N twilsock sockets on the chat gateway (memory per idle socket), then inbound SMS at a fixed rate and each
    one's list_item_added at the conversation's sockets (SMS-to-SDK latency)."""
    from bridge.chat import objects

    sizes, args = run.sizes, run.args
    per_room = sizes.sockets_per_conversation
    room_count = max(1, math.ceil(sizes.sockets / per_room))
    count = max(1, int(sizes.gateway_rate * sizes.gateway_seconds))
    print(
        f"\n## chat gateway: {sizes.sockets:,} twilsock sockets ({per_room} chat participants in each of "
        f"{room_count} conversations), then {count} inbound SMS at {sizes.gateway_rate:g}/s"
    )
    limit = raise_open_files(sizes.sockets + sizes.warmup_sockets + 1024)
    with run.environment("gateway") as (processes, carrier), run.bridge(processes, carrier, workers=True) as stack:
        rooms = Rooms.numbered(room_count, 1, PROXY, GATEWAY_NUMBERS)
        identities = [f"user-{n + 1:04d}" for n in range(sizes.sockets)]
        by_room = [identities[room * per_room : (room + 1) * per_room] for room in range(room_count)]
        stack.add_senders([PROXY])
        started = time.monotonic()
        sids = stack.create_conversations(rooms.as_pairs(), by_room)
        print(
            f"  {room_count} conversations, {sizes.sockets:,} chat and {room_count} SMS participants "
            f"({time.monotonic() - started:.0f} s, REST)"
        )
        stack.start_gateway()
        assert stack.gateway is not None
        gateway_pid = stack.gateway.process.pid
        print(f"  gateway pid {gateway_pid}, open files limit {open_files_limit(gateway_pid)} (ours {limit})")
        tokens = mint_tokens(stack, identities, ttl_seconds=6 * 3600)
        lists = [objects.conversation_objects(sid)[1].sid for sid in sids]

        def sockets(numbers: Sequence[int]) -> list[ChatSocket]:
            return [ChatSocket(n, identities[n], tokens[n], lists[n // per_room], n // per_room) for n in numbers]

        deflate = not args.no_deflate
        fleet = Fleet(stack.gateway_url, sockets(range(sizes.sockets)), args.connect_concurrency, deflate)
        warmup = Fleet(stack.gateway_url, sockets(range(min(sizes.warmup_sockets, sizes.sockets))), 8, deflate)
        pairs = rooms.authors(room_count)  # message n from the SMS participant of conversation n % rooms

        def prepare(run_id: str, how_many: int) -> list[PreparedRequest]:
            return twilio_inbound_requests(stack.url, carrier.account_sid, carrier.auth_token, pairs, run_id, how_many)

        def cpu_groups() -> dict[str, list[int]]:
            groups = {"chat gateway": stack.gateway_pids(), **bridge_cpu_groups(stack, carrier)}
            groups.pop("load generator and orchestrator", None)
            groups[f"load generator and the {sizes.sockets:,} chat clients (one process)"] = [os.getpid()]
            return groups

        session = Session(
            fleet=fleet,
            warmup=warmup,
            gateway_pid=gateway_pid,
            rooms=room_count,
            prepare=prepare,
            per_second=sizes.gateway_rate,
            count=count,
            warmup_count=max(room_count, min(200, int(sizes.gateway_rate * 2))),
            drain_timeout=sizes.drain_timeout,
            cpu_groups=cpu_groups,
            idle_seconds=sizes.idle_seconds,
        )
        connected, events = run_until_done(session.run())
    run.check_gateway(connected, events)
    return print_gateway(connected, events, deflate)


def print_gateway(connected: SocketsOutcome, events: EventsOutcome, deflate: bool) -> dict[str, Any]:
    c = connected
    print(
        markdown_table(
            ["sockets", "conversations", "connected and subscribed", "failed", "connect all s", "sockets/s",
             "subscribed p50 ms", "subscribed p99 ms", "gateway RSS before MB", "after MB", "KB per idle socket",
             "gateway CPU s (connect)"],
            [[c.sockets, c.conversations, c.subscribed, c.sockets - c.subscribed, f"{c.connect_seconds:.1f}",
              f"{c.subscribed / c.connect_seconds:.0f}" if c.connect_seconds else "-",
              ms(percentile(c.subscribe_latencies, 0.5)), ms(percentile(c.subscribe_latencies, 0.99)),
              f"{c.rss_before_kb / 1024:.1f}", f"{c.rss_after_kb / 1024:.1f}", f"{c.per_socket_kb:.1f}",
              f"{c.gateway_cpu_seconds:.1f}"]],
        )
    )  # fmt: skip
    print(
        f"({c.connect_concurrency} connecting at once, permessage-deflate {'offered' if deflate else 'not offered'}; "
        f"failures: {dict(c.failures) or 'none'}); holding them idle for {c.idle_seconds:.0f} s took the gateway "
        f"{c.idle_cpu_seconds:.1f} CPU s ({c.idle_cores:.2f} of a core)"
    )
    e = events
    print(
        f"\nSMS-to-SDK: {e.sent} signed inbound webhooks at {e.offered_per_second:g}/s offered "
        f"({e.accepted} answered 200, {e.late_starts} late starts, accept p50 {ms(percentile(e.accept_latencies, 0.5))}"
        f" ms, p99 {ms(percentile(e.accept_latencies, 0.99))} ms), webhook start to list_item_added at the socket"
    )
    print(
        markdown_table(
            ["measured at", "expected", "arrived", "lost", "dup", "misrouted", "p50 ms", "p99 ms", "max ms"],
            [["one socket per conversation", e.sent, e.arrived, e.lost, e.duplicates, e.misrouted,
              ms(percentile(e.latencies, 0.5)), ms(percentile(e.latencies, 0.99)),
              ms(max(e.latencies, default=math.nan))],
             ["every subscribed socket", e.fanout_expected, e.fanout_delivered, e.fanout_lost, e.duplicates,
              e.misrouted, ms(percentile(e.fanout_latencies, 0.5)), ms(percentile(e.fanout_latencies, 0.99)),
              ms(max(e.fanout_latencies, default=math.nan))]],
        )
    )  # fmt: skip
    print(
        f"per message, until its last socket: p99 {ms(percentile(e.message_latencies, 0.99))} ms; from the webhook's "
        f"answer to the measuring socket (the commit-to-socket part): p50 {ms(percentile(e.after_answer, 0.5))} ms, "
        f"p99 {ms(percentile(e.after_answer, 0.99))} ms; the clients' event loop ran late by p99 "
        f"{ms(percentile(e.loop_lags, 0.99))} ms, max {ms(max(e.loop_lags, default=math.nan))} ms"
    )
    if e.cpu is not None:
        wall = e.cpu.wall_seconds
        rows = [[group, f"{seconds:.1f}", f"{seconds / wall:.2f}" if wall else "-", f"{seconds / e.sent * 1000:.1f}"]
                for group, seconds in e.cpu.used.items()]  # fmt: skip
        rows.append(["wall clock of the run (load and drain)", f"{wall:.1f}", "", ""])
        print("\nCPU time during the inbound load (2 cores = 2 CPU s per wall second)")
        print(markdown_table(["process group", "CPU s", "cores busy", "ms per inbound"], rows))
    print(
        f"gateway RSS after the load {e.rss_after_kb / 1024:.1f} MB (peak VmHWM {e.hwm_kb / 1024:.1f} MB); "
        f"sockets closed early: {len(e.closed_early)}"
    )
    return {"sockets": connected.summary(), "events": events.summary(), "deflate": deflate}


BENCHMARKS: dict[str, Callable[[Run], dict[str, Any]]] = {
    "inbound": bench_inbound,
    "relay": lambda run: bench_relay(run, with_kannel=not run.args.no_kannel),
    "memory": bench_memory,
    "latency": bench_latency,
    "scale": bench_scale,
    "hooks": bench_hooks,
    "gateway": bench_gateway,
}


# -- main ------------------------------------------------------------------------------------------------------------


def _raise_timeout(_signum: int, _frame: FrameType | None) -> None:
    raise BenchTimeout("the run went over --time-limit")


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: processes stopped, databases dropped


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    # Our own handler, not Python's default: asyncio.run() then leaves SIGINT alone instead of turning the first
    # Ctrl-C into a cancellation that the load generator's gather can absorb.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    sizes = sizes_from(args)
    time_limit = args.time_limit or (900 if args.quick else 5400)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGALRM, _raise_timeout)
    signal.alarm(math.ceil(time_limit))
    workdir = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    run = Run(args, sizes, workdir)
    run.results["machine"] = machine.describe(args.postgres, args.redis)
    run.results["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    run.results["sizes"] = vars(sizes)
    names = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    if args.benchmark == "all":
        names.remove("memory")  # measured within relay
    failed = interrupted = False
    started = time.monotonic()
    try:
        for name in names:
            run.results[name] = BENCHMARKS[name](run)
    except (Exception, KeyboardInterrupt) as error:
        failed = True
        print(f"\nbenchmark run stopped: {type(error).__name__}: {error}", file=sys.stderr)
        if isinstance(error, KeyboardInterrupt):
            interrupted = True
    finally:
        signal.alarm(0)
        run.results["load_average_at_end"] = machine.load_average()
        run.results["busiest_processes_at_end"] = machine.busiest_processes()
        run.results["wall_seconds"] = round(time.monotonic() - started, 1)
        run.results["problems"] = run.problems
        write_outputs(run)
        if args.keep or failed:
            print(f"work folder (logs, kannel.conf): {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        leftovers = children_of(os.getpid())
        if leftovers:
            print(f"warning: child processes still running: {leftovers}", file=sys.stderr)
    for problem in run.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if interrupted:
        return 130
    return 1 if failed or run.problems else 0


def write_outputs(run: Run) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = run.args.json or OUT / f"{run.args.benchmark}-{stamp}.json"
    path.write_text(json.dumps(run.results, indent=2, default=str))
    print(f"\nresults: {path}")
    latency = run.results.get("latency")
    if latency:
        from bench.plot import plot_latency

        plot_path = run.args.plot or OUT / f"latency-{stamp}.png"
        described = run.results["machine"]
        title = f"{described['nproc']} cores, {described['cpu']}, {described['date']}"
        plot_latency(latency["sweep"], plot_path, title)
        print(f"plot: {plot_path}")


if __name__ == "__main__":
    sys.exit(main())

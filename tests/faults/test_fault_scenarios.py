"""Each scenario pushes inbound messages through the deployed bridge while one part of the world fails, and
reports accepted / delivered / lost / duplicated at the carrier. The promise: 0 lost, 0 duplicated.

The regular test run pushes a few hundred per scenario; `scripts/faults` pushes thousands (see
docs/reliability.md). Each inbound message goes to the other two people of a three-party conversation.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.faults.harness import MESSAGES, Scenario
from tests.support.fake_carrier import Failure
from tests.support.waiting import eventually

SETTLE_SECONDS = 240 + MESSAGES * 0.2


def start(scenario: Scenario, workers: int = 1) -> None:
    scenario.stack.start_web()
    for number in range(workers):
        scenario.stack.start_worker(f"worker{number}")
    scenario.stack.start_beat()
    scenario.setup_rooms()


@contextmanager
def every(seconds: float, action: Callable[[], None]) -> Iterator[list[int]]:
    """Runs `action` every `seconds` in the background while the block runs; yields a one-item run counter."""
    stop = threading.Event()
    runs = [0]

    def loop() -> None:
        while not stop.wait(seconds):
            action()
            runs[0] += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield runs
    finally:
        stop.set()
        thread.join(timeout=60)


def finish(scenario: Scenario) -> None:
    eventually(lambda: scenario.settled(MESSAGES * 2), timeout=SETTLE_SECONDS, interval=0.5)
    time.sleep(1)  # a duplicate send would show up now
    result = scenario.report(MESSAGES)
    assert result["accepted_webhooks"] >= MESSAGES
    assert result["stored_messages"] == MESSAGES
    assert result["lost"] == 0
    assert result["unexpected"] == 0
    assert result["duplicates"] == 0


def test_workers_killed_with_sigkill(scenario: Scenario) -> None:
    start(scenario, workers=2)
    scenario.carrier.send_delay = 0.01  # sends take a moment, so kills land mid-send

    def kill_one() -> None:
        victim = random.choice(["worker0", "worker1"])
        scenario.stack.kill(victim)
        scenario.stack.start_worker(victim)

    with every(2.0, kill_one) as kills:
        scenario.post(MESSAGES)
        eventually(lambda: scenario.settled(MESSAGES * 2), timeout=SETTLE_SECONDS, interval=0.5)
    scenario.notes["sigkills"] = kills[0]
    finish(scenario)
    assert kills[0] >= 1


def test_redis_stopped_and_restarted_mid_run(scenario: Scenario) -> None:
    start(scenario)
    scenario.carrier.send_delay = 0.02  # tasks are in flight (unacknowledged) when Redis goes
    half = threading.Thread(target=scenario.post, args=(MESSAGES,), kwargs={"concurrency": 2})
    half.start()
    eventually(lambda: scenario.posting.accepted >= MESSAGES // 3 and len(scenario.carrier.snapshot()) >= 5, timeout=60)
    scenario.redis.stop()
    time.sleep(3)
    scenario.redis.start()  # empty: what it held is gone
    half.join(timeout=SETTLE_SECONDS)
    scenario.notes["worker_restarts"] = sum(scenario.stack.crashes.values())
    finish(scenario)


def test_postgres_restarted_mid_run(scenario: Scenario) -> None:
    start(scenario)
    poster = threading.Thread(target=scenario.post, args=(MESSAGES,), kwargs={"concurrency": 2})
    poster.start()
    eventually(lambda: scenario.posting.accepted >= MESSAGES // 3, timeout=60)  # webhooks keep arriving
    scenario.postgres.restart(down_for=2.0)
    poster.join(timeout=SETTLE_SECONDS)
    scenario.notes["process_restarts"] = sum(scenario.stack.crashes.values())
    finish(scenario)


def test_carrier_failing_30_percent_of_sends(scenario: Scenario) -> None:
    start(scenario)
    rng = random.Random(11)
    faults: list[str] = []

    def thirty_percent(_params: dict[str, object]) -> Failure | None:
        roll = rng.random()
        if roll >= 0.3:
            return None
        if roll < 0.1:
            faults.append("5xx")
            return Failure(503, 20500, "Service unavailable")
        if roll < 0.2:
            faults.append("429")
            return Failure(429, 20429, "Too Many Requests", retry_after=1)
        faults.append("timeout")  # no answer within the bridge's 2 s carrier timeout, and not accepted
        time.sleep(2.5)
        return Failure(503, 20500, "Too late")

    scenario.carrier.policy = thirty_percent
    scenario.post(MESSAGES)
    eventually(lambda: scenario.settled(MESSAGES * 2), timeout=SETTLE_SECONDS, interval=0.5)
    scenario.notes["carrier_faults"] = dict(Counter(faults))  # in the report that finish() prints
    finish(scenario)


def test_duplicated_webhooks_and_callbacks_twice_out_of_order(scenario: Scenario) -> None:
    start(scenario)
    scenario.carrier.duplicate_callbacks = True
    scenario.carrier.reverse_callbacks = True
    scenario.post(MESSAGES, duplicate_ratio=0.1)
    finish(scenario)
    # The fake carrier posts callbacks from 8 threads, 4 per send with 50 ms between them (at most about 40
    # sends' worth a second), so at full size they trail the sends by minutes: the wait scales with the count.
    eventually(lambda: _delivered_receipts(scenario) == MESSAGES * 2, timeout=SETTLE_SECONDS, interval=0.5)


def _delivered_receipts(scenario: Scenario) -> int:
    from sqlalchemy import func, select

    from bridge.models import Delivery

    with scenario.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")) or 0

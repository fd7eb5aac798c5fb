"""Metrics across real processes, as deployed: the counts of gunicorn workers and Celery worker processes added up
by prometheus_client's multiprocess mode (`bridge run`: one machine, one directory), and, where processes share no
disk (Heroku dynos), a worker serving its own counts on BRIDGE_METRICS_PORT.

Each test runs its own processes on a private Redis and a database of its own (SQLite file, or a scratch database on
the PostgreSQL server of the run), with the suite's fake carrier."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bridge.client import bridge_client
from bridge.migrate import upgrade
from tests.conftest import METRICS_TOKEN, bridge_environment, on_postgres
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import free_port, scratch_database
from tests.support.processes import RedisServer, Stack
from tests.support.scrape import Scrape, get, scrape
from tests.support.waiting import eventually

PROXY = "+12015550160"
PEOPLE = ("+14155550161", "+14155550162", "+14155550163")  # the first writes, the other two receive
DELIVERIES, WEBHOOKS = "bridge_deliveries_total", "bridge_webhooks_total"
CARRIER_COUNT = "bridge_carrier_request_duration_seconds_count"


@pytest.fixture
def database_of_its_own(tmp_path: Path) -> Iterator[str]:
    if on_postgres():
        with scratch_database(os.environ["DATABASE_URL"]) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'bridge.db'}"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def carrier(fake_carrier: FakeCarrier) -> Iterator[FakeCarrier]:
    fake_carrier.reset()
    yield fake_carrier
    fake_carrier.reset()


def environment(
    database_url: str, redis: RedisServer, instance: Path, port: int, carrier: FakeCarrier
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    return {**env, **bridge_environment(database_url, redis.url, instance, port, carrier), "WEB_CONCURRENCY": "2"}


def conversation(base_url: str, env: dict[str, str]) -> None:
    """Three SMS participants on PROXY, made through the bridge's API."""
    client = bridge_client(base_url, env["BRIDGE_ACCOUNT_SID"], env["BRIDGE_AUTH_TOKEN"])
    pool = client.conversations.v1.configuration().fetch().default_messaging_service_sid
    client.messaging.v1.services(pool).phone_numbers.create(phone_number_sid=PROXY)
    room = client.conversations.v1.conversations.create(friendly_name="metrics across processes")
    for address in PEOPLE:
        room.participants.create(messaging_binding_address=address, messaging_binding_proxy_address=PROXY)


def relay(base_url: str, carrier: FakeCarrier, messages: int) -> None:
    for n in range(messages):
        response = carrier.post_inbound(base_url, carrier.inbound_params(PEOPLE[0], PROXY, f"message {n}"))
        assert response.status_code == 200, response.text


def pids_of(directory: Path, kind: str) -> set[int]:
    """The processes that wrote `kind` files (counter, histogram) in a multiprocess directory."""
    return {
        int(m.group(1)) for f in directory.glob(f"{kind}_*.db") if (m := re.fullmatch(rf"{kind}_(\d+)\.db", f.name))
    }


@pytest.fixture
def bridge_run(
    tmp_path: Path, database_of_its_own: str, private_redis: RedisServer, carrier: FakeCarrier
) -> Iterator[tuple[str, dict[str, str]]]:
    """`bridge run --workers 2`: gunicorn (2 workers), two Celery worker processes and beat, as one command."""
    port = free_port()
    env = environment(database_of_its_own, private_redis, tmp_path, port, carrier)
    log = (tmp_path / "run.log").open("wb")
    command = [sys.executable, "-m", "workers.cli", "run", "--workers", "2", "--concurrency", "2"]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    auth = (env["BRIDGE_ACCOUNT_SID"], env["BRIDGE_AUTH_TOKEN"])

    def up() -> bool:
        assert process.poll() is None, (tmp_path / "run.log").read_text()
        try:
            return requests.get(base_url + "/v1/Services", auth=auth, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        eventually(up, timeout=90, interval=0.2, message="bridge run did not start")
        yield base_url, env
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_bridge_run_adds_up_every_process_in_one_scrape(
    bridge_run: tuple[str, dict[str, str]], carrier: FakeCarrier, tmp_path: Path
) -> None:
    base_url, env = bridge_run
    conversation(base_url, env)
    relay(base_url, carrier, messages=6)
    sends = 6 * (len(PEOPLE) - 1)

    def delivered() -> Scrape | None:
        scraped = scrape(base_url, METRICS_TOKEN)
        return scraped if scraped.total(DELIVERIES, status="delivered") == sends else None

    scraped = eventually(delivered, timeout=60, interval=0.3, message="every receipt delivered, as /metrics says")
    assert len(carrier.snapshot()) == sends
    # Counted by the gunicorn workers that answered the webhooks...
    assert scraped.total(WEBHOOKS, webhook="inbound", result="accepted", outcome="routed") == 6
    assert scraped.total(WEBHOOKS, webhook="status", result="accepted") == 2 * sends
    # ...and by the Celery worker processes that sent: read by whichever web worker answers the scrape.
    assert scraped.total(DELIVERIES, status="sent", channel="sms") == sends
    assert scraped.total(CARRIER_COUNT, operation="send", outcome="ok") == sends
    for _ in range(4):  # any web worker answers with the same totals
        again = scrape(base_url, METRICS_TOKEN)
        assert again.total(DELIVERIES, status="sent") == sends and again.total(WEBHOOKS, webhook="inbound") == 6

    directory = tmp_path / "metrics" / "run"  # bridge run's default, shared by all its children
    senders, counters = pids_of(directory, "histogram"), pids_of(directory, "counter")
    assert senders, "the Celery workers wrote their carrier timings here"
    assert counters - senders, "web workers (which time no carrier call) wrote their counters here too"
    assert get(base_url, None).status_code == 401


@pytest.fixture
def separate_processes(
    tmp_path: Path, database_of_its_own: str, private_redis: RedisServer, carrier: FakeCarrier
) -> Iterator[tuple[Stack, str]]:
    """A web process and a worker that share no metrics directory, as Heroku's dynos share no disk; the worker
    serves its own metrics on BRIDGE_METRICS_PORT."""
    upgrade(database_of_its_own)
    metrics_port = free_port()
    env = environment(database_of_its_own, private_redis, tmp_path, 0, carrier)
    for key in ("PORT", "PUBLIC_BASE_URL", "BRIDGE_INSTANCE_DIR"):
        del env[key]  # the stack chooses them
    stack = Stack({**env, "BRIDGE_METRICS_PORT": str(metrics_port)}, tmp_path)
    try:
        stack.start_web(workers=2)
        stack.start_worker()
        worker_url = f"http://127.0.0.1:{metrics_port}"

        def serving() -> bool:
            try:
                return get(worker_url, METRICS_TOKEN).status_code == 200
            except requests.RequestException:
                return False

        eventually(serving, timeout=60, interval=0.2, message="the worker's metrics endpoint did not start")
        yield stack, worker_url
    finally:
        stack.stop()


def test_a_worker_on_its_own_serves_its_own_counts(separate_processes: tuple[Stack, str], carrier: FakeCarrier) -> None:
    stack, worker_url = separate_processes
    conversation(stack.url, stack.environment)
    relay(stack.url, carrier, messages=2)
    sends = 2 * (len(PEOPLE) - 1)
    eventually(
        lambda: scrape(stack.url, METRICS_TOKEN).total(DELIVERIES, status="delivered") == sends,
        timeout=60,
        interval=0.3,
        message="every receipt delivered (status callbacks are counted by the web)",
    )
    web, worker = scrape(stack.url, METRICS_TOKEN), scrape(worker_url, METRICS_TOKEN)
    assert web.total(WEBHOOKS, webhook="inbound", result="accepted") == 2
    assert web.total(DELIVERIES, status="sent") == 0  # the sends happened in the worker, not here
    assert worker.total(DELIVERIES, status="sent", channel="sms") == sends == len(carrier.snapshot())
    assert worker.total(CARRIER_COUNT, operation="send", outcome="ok") == sends
    assert worker.total(WEBHOOKS) == 0
    assert "bridge_delivery_queue_depth" not in worker.families  # the database's numbers are the web's to read
    assert list((stack.workdir / "metrics" / "web").glob("counter_*.db")), "gunicorn's own default directory"

    assert get(worker_url, None).status_code == 401
    assert get(worker_url, stack.environment["BRIDGE_AUTH_TOKEN"]).status_code == 401
    assert (
        requests.get(worker_url + "/", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).status_code
        == 404
    )

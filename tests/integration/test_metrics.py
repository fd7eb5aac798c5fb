"""`/metrics` on the live bridge, scraped over HTTP and parsed with prometheus_client's own parser: what it counts
is what the fake carrier saw and what the webhooks were answered. The counters belong to this test process (the
live bridge and the Celery worker run in it), so each test compares a scrape before with one after."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from twilio.rest import Client

from bridge import opt_outs
from bridge.carriers.base import INVALID_NUMBER, OPTED_OUT
from bridge.db import Database
from tests.integration.conftest import delivery_statuses
from tests.security.routes import in_process
from tests.support.fake_carrier import Failure, FakeCarrier, Send
from tests.support.live import LiveBridge
from tests.support.scrape import Scrape, scrape
from tests.support.waiting import eventually

ALICE, BOB, CAROL = "+14155550131", "+14155550132", "+14155550133"
WEBHOOKS = "bridge_webhooks_total"
DELIVERIES = "bridge_deliveries_total"
CARRIER_COUNT = "bridge_carrier_request_duration_seconds_count"


@pytest.fixture
def metrics(live: LiveBridge) -> Iterator[tuple[LiveBridge, Scrape]]:
    """The live bridge and a scrape taken before the test acts."""
    yield live, scrape(live.url, live.settings.metrics_token)


def read(live: LiveBridge) -> Scrape:
    return scrape(live.url, live.settings.metrics_token)


@pytest.fixture
def room(client: Client, sender_pool: dict[str, str]) -> str:
    """Alice, Bob and Carol on SMS in one conversation; returns its sender."""
    conversation = client.conversations.v1.conversations.create(friendly_name="three on sms")
    for address in (ALICE, BOB, CAROL):
        conversation.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms"]
        )
    return sender_pool["sms"]


def test_the_scrape_is_prometheus_text_naming_every_bridge_metric(live: LiveBridge) -> None:
    scraped = read(live)
    assert {"bridge_webhooks", "bridge_deliveries", "bridge_carrier_request_duration_seconds"} <= set(scraped.families)
    assert scraped.families["bridge_webhooks"].type == "counter"
    assert scraped.families["bridge_carrier_request_duration_seconds"].type == "histogram"


def test_refused_webhooks_are_counted_by_reason(
    metrics: tuple[LiveBridge, Scrape], worker: FakeCarrier, room: str
) -> None:
    live, before = metrics
    inbound_url, status_url = f"{live.url}/webhooks/twilio/inbound", f"{live.url}/webhooks/twilio/status/DY{'0' * 32}"
    good = worker.inbound_params(ALICE, room, "hello")
    refusals = [
        (worker.post_inbound(live.url, good, signature="not-a-signature"), 403),
        (worker.post_inbound(live.url, {**good, "From": "not a number"}), 400),
        (worker.post_inbound(live.url, {**good, "NumMedia": "eleven"}), 400),
        (worker.post_inbound(live.url, {**good, "Body": "x" * 300_000}), 413),
        (requests.post(inbound_url, data=good, timeout=30), 403),  # no signature at all
        (requests.post(status_url, data={"MessageStatus": "sent"}, timeout=30), 403),
    ]
    assert [response.status_code for response, _ in refusals] == [status for _, status in refusals]
    grown = read(live).since(before)
    inbound = {"webhook": "inbound", "result": "refused"}
    assert grown.total(WEBHOOKS, **inbound, outcome="bad_signature") == 2
    assert grown.total(WEBHOOKS, **inbound, outcome="malformed") == 2
    assert grown.total(WEBHOOKS, **inbound, outcome="too_large") == 1
    assert grown.total(WEBHOOKS, webhook="status", result="refused", outcome="bad_signature") == 1
    assert grown.total(WEBHOOKS, result="accepted") == 0


def test_a_webhook_the_database_cannot_store_is_counted_as_refused(
    metrics: tuple[LiveBridge, Scrape], throwaway_app_on_no_database: object, fake_carrier: FakeCarrier
) -> None:
    live, before = metrics
    send = in_process(throwaway_app_on_no_database)  # type: ignore[arg-type]
    params = fake_carrier.inbound_params(ALICE, "+12015550100", "hello")
    url = live.settings.public_base_url + "/webhooks/twilio/inbound"
    headers = {
        "X-Twilio-Signature": fake_carrier.validator.compute_signature(url, params),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    reply = send("POST", "/webhooks/twilio/inbound", headers=headers, data=urlencode(params))
    assert reply.status == 503
    grown = read(live).since(before)
    assert grown.total(WEBHOOKS, webhook="inbound", result="refused", outcome="database_unavailable") == 1


@pytest.fixture
def throwaway_app_on_no_database(live: LiveBridge) -> Iterator[object]:
    """A second app from the same settings (Celery's configuration stays as it is), whose database then vanishes:
    nothing listens on the port its URL names."""
    from webhooks import create_app

    app = create_app(live.settings, database=live.database)
    gone = Database("postgresql+psycopg://postgres@127.0.0.1:9/gone", connect_args={"connect_timeout": 2})
    app.extensions["bridge.database"] = gone
    yield app
    gone.dispose()


def relay_to_bob_and_carol(live: LiveBridge, carrier: FakeCarrier, sender: str, body: str) -> list[Send]:
    """Alice writes in; returns the carrier's two sends once both receipts are delivered."""
    assert carrier.post_inbound(live.url, carrier.inbound_params(ALICE, sender, body)).status_code == 200
    sends = carrier.wait_for(2)
    eventually(lambda: delivery_statuses(live).get("delivered") == 2, message="both receipts delivered")
    return sends


def test_a_relay_is_counted_as_the_carrier_saw_it(
    metrics: tuple[LiveBridge, Scrape], worker: FakeCarrier, room: str
) -> None:
    live, before = metrics
    sends = relay_to_bob_and_carol(live, worker, room, "hello both")
    grown = read(live).since(before)

    assert len(sends) == 2 and {send.to_address for send in sends} == {BOB, CAROL}
    assert grown.total(WEBHOOKS, webhook="inbound", result="accepted") == 1
    assert grown.total(WEBHOOKS, webhook="inbound", result="accepted", outcome="routed") == 1
    assert grown.total(DELIVERIES, status="sent", channel="sms", error_code="0") == len(sends)
    assert grown.total(DELIVERIES, status="delivered", channel="sms", error_code="0") == len(sends)
    assert grown.total(DELIVERIES) == 2 * len(sends)
    assert grown.total(CARRIER_COUNT, operation="send", outcome="ok") == len(sends)
    assert grown.total(CARRIER_COUNT) == len(sends)
    assert grown.total("bridge_carrier_request_duration_seconds_bucket", operation="send", le="+Inf") == len(sends)
    assert grown.total("bridge_carrier_request_duration_seconds_sum", operation="send") > 0
    # Each send's `sent` and `delivered` callbacks: `delivered` moves the receipt; `sent` does too when it beats the
    # worker's own record of the send, and is ignored when it comes after.
    status = {"webhook": "status", "result": "accepted"}
    assert grown.total(WEBHOOKS, **status) == 2 * len(sends)
    assert len(sends) <= grown.total(WEBHOOKS, **status, outcome="applied") <= 2 * len(sends)


def test_status_callbacks_are_counted_applied_or_ignored(
    metrics: tuple[LiveBridge, Scrape], worker: FakeCarrier, room: str
) -> None:
    live, _ = metrics
    sends = relay_to_bob_and_carol(live, worker, room, "hello again")
    before = read(live)
    first = sends[0]
    assert worker.post_status(first, "delivered") == 200  # a duplicate
    assert worker.post_status(first, "sent") == 200  # late: the receipt is already further
    assert worker.post_status(first, "read") == 200  # moves it on
    assert worker.post_status(first, "queued") == 200  # not a status a receipt takes
    grown = read(live).since(before)
    status = {"webhook": "status", "result": "accepted"}
    assert grown.total(WEBHOOKS, **status, outcome="ignored") == 3
    assert grown.total(WEBHOOKS, **status, outcome="applied") == 1
    assert grown.total(DELIVERIES) == 1
    assert grown.total(DELIVERIES, status="read", channel="sms", error_code="0") == 1


def test_failures_are_counted_with_the_carriers_error_code(
    metrics: tuple[LiveBridge, Scrape], worker: FakeCarrier, room: str
) -> None:
    live, before = metrics
    worker.failures_by_number[CAROL] = Failure(400, INVALID_NUMBER, "The 'To' number is not a valid phone number")
    assert worker.post_inbound(live.url, worker.inbound_params(ALICE, room, "one of you is wrong")).status_code == 200
    eventually(lambda: delivery_statuses(live) == {"delivered": 1, "failed": 1}, message="one delivered, one failed")
    grown = read(live).since(before)
    assert grown.total(DELIVERIES, status="failed", channel="sms", error_code=str(INVALID_NUMBER)) == 1
    assert grown.total(DELIVERIES, status="sent") == 1
    assert grown.total(CARRIER_COUNT, operation="send", outcome="rejected") == 1
    assert grown.total(CARRIER_COUNT, operation="send", outcome="ok") == 1


def test_a_send_time_rule_is_counted_as_a_failure_without_a_carrier_call(
    metrics: tuple[LiveBridge, Scrape], worker: FakeCarrier, room: str
) -> None:
    live, before = metrics
    with live.database.transaction() as session:
        opt_outs.record_opt_out(session, CAROL, room, "STOP")
    assert worker.post_inbound(live.url, worker.inbound_params(ALICE, room, "carol opted out")).status_code == 200
    eventually(lambda: delivery_statuses(live) == {"delivered": 1, "failed": 1}, message="one delivered, one blocked")
    grown = read(live).since(before)
    assert grown.total(DELIVERIES, status="failed", channel="sms", error_code=str(OPTED_OUT)) == 1
    assert grown.total(CARRIER_COUNT) == len(worker.snapshot()) == 1


DEPTH, AGE = "bridge_delivery_queue_depth", "bridge_delivery_queue_oldest_age_seconds"
DAVE, ERIN = "+14155550134", "+14155550135"


def test_the_queue_per_sender_is_read_from_the_database(
    live: LiveBridge, worker: FakeCarrier, room: str, client: Client, sender_pool: dict[str, str]
) -> None:
    other_room = client.conversations.v1.conversations.create(friendly_name="two on the second number")
    for address in (DAVE, ERIN):
        other_room.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms2"]
        )
    idle = read(live)
    assert idle.series(DEPTH) == [{"sender": "other"}] and idle.total(DEPTH) == 0
    assert idle.total(AGE) == 0

    worker.outage = Failure(503, 20500, "Service unavailable")  # every send is retried later: the rows wait
    for author, sender in ((ALICE, room), (DAVE, sender_pool["sms2"])):
        assert worker.post_inbound(live.url, worker.inbound_params(author, sender, "wait")).status_code == 200
    eventually(lambda: len(worker.rejected) >= 3, message="each delivery tried once")
    waiting = read(live)
    assert waiting.total(DEPTH, sender=room) == 2
    assert waiting.total(DEPTH, sender=sender_pool["sms2"]) == 1
    assert waiting.total(DEPTH, sender="other") == 0
    assert 0 < waiting.total(AGE, sender=room) < 60

    worker.outage = None
    eventually(lambda: delivery_statuses(live).get("delivered") == 3, message="all three delivered")
    drained = read(live)
    assert drained.series(DEPTH) == [{"sender": "other"}] and drained.total(DEPTH) == 0


ROOT = Path(__file__).resolve().parents[2]
SAMPLES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def documented_metrics() -> dict[str, set[str]]:
    """The README's metrics table: each metric's name and its labels (a cell's `names`, their values in brackets)."""
    table = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 4 and re.fullmatch(r"`bridge_[a-z_]+`", cells[0]):
            labels = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", cells[2])))
            table[cells[0].strip("`")] = labels
    return table


def test_the_readme_lists_every_metric_the_bridge_exports(live: LiveBridge) -> None:
    exported = {
        name + ("_total" if family.type == "counter" else ""): family.type
        for name, family in read(live).families.items()
        if name.startswith("bridge_")
    }
    assert set(documented_metrics()) == set(exported)
    assert documented_metrics()["bridge_webhooks_total"] == {"webhook", "result", "outcome"}


def test_the_grafana_dashboard_asks_only_for_what_the_bridge_exports(live: LiveBridge) -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    families = {name: family.type for name, family in read(live).families.items() if name.startswith("bridge_")}
    labels = {name.removesuffix("_total"): found for name, found in documented_metrics().items()}
    samples = {family + suffix: family for family, kind in families.items() for suffix in SAMPLES[kind]}
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    problems = []
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            used = set(re.findall(r"\bbridge_[a-z_]+", expr))
            unknown = used - set(samples)
            allowed = {"le"} | {label for name in used if name in samples for label in labels[samples[name]]}
            named = set(re.findall(r"(\w+)\s*=~?\s*\"", expr)) | {
                label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")
            }
            missing = {v for v in re.findall(r"\$(\w+)", expr) if v not in variables and not v.startswith("__")}
            if unknown or named - allowed or missing:
                problems.append(
                    f"{panel['title']}: {expr} (unknown {unknown}, labels {named - allowed}, vars {missing})"
                )
    assert not problems, "\n".join(problems)
    assert sum(len(panel["targets"]) for panel in panels) >= 10

"""A send whose answer the bridge never got (the carrier answered after the bridge's timeout, or the worker died
mid-send) is looked up at the carrier before it is sent again: once accepted, never sent twice. Status callbacks
are off in these tests, so only the lookup can know."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from twilio.rest import Client

from bridge.models import Delivery, DeliveryAttempt
from bridge.timeutil import utcnow
from tests.support.fake_carrier import Failure, FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

ALICE, BOB = "+14155550121", "+14155550122"
CARRIER_TIMEOUT = 3.0  # BRIDGE_CARRIER_TIMEOUT in the test environment (tests/conftest.py)


@pytest.fixture
def pair(client: Client, sender_pool: dict[str, str], worker: FakeCarrier) -> str:
    """A two-party SMS conversation; returns the proxy address. No status callbacks."""
    conversation = client.conversations.v1.conversations.create(friendly_name="two people")
    for address in (ALICE, BOB):
        conversation.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms"]
        )
    worker.callback_statuses = ()
    return sender_pool["sms"]


def bobs_delivery(live: LiveBridge) -> Delivery:
    with live.database.transaction() as session:
        return session.execute(select(Delivery)).scalar_one()


def attempts_of(live: LiveBridge, delivery_id: int) -> list[tuple[int | None, int | None, str | None]]:
    with live.database.transaction() as session:
        rows = session.scalars(
            select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
        ).all()
        return [(a.http_status, a.error_code, a.carrier_message_sid) for a in rows]


def sent(live: LiveBridge) -> bool:
    return bobs_delivery(live).status == "sent"


def test_a_send_accepted_but_answered_too_late_is_found_not_sent_again(
    live: LiveBridge, worker: FakeCarrier, pair: str
) -> None:
    worker.answer_delay = CARRIER_TIMEOUT + 1.5  # accepted at once; the answer comes after the bridge gave up
    worker.post_inbound(live.url, worker.inbound_params(ALICE, pair, "answered too late"))
    [accepted] = worker.wait_for(1)
    worker.answer_delay = 0.0
    eventually(lambda: sent(live), timeout=30)
    time.sleep(0.5)  # a second send would show up now
    assert [s.body for s in worker.sent_to(BOB)] == ["answered too late"]
    assert worker.lookups == 1
    row = bobs_delivery(live)
    assert row.channel_message_sid == accepted.sid and row.unsure_since is None
    assert attempts_of(live, row.id) == [(None, 20504, None), (200, None, accepted.sid)]


def test_a_send_that_timed_out_without_reaching_the_carrier_goes_out_once(
    live: LiveBridge, worker: FakeCarrier, pair: str
) -> None:
    calls: list[int] = []

    def slow_then_refused(_params: dict[str, object]) -> Failure | None:
        calls.append(1)
        if len(calls) == 1:  # the first request is held past the timeout and then refused: nothing was accepted
            time.sleep(CARRIER_TIMEOUT + 1.0)
            return Failure(503, 20500, "Service unavailable")
        return None

    worker.policy = slow_then_refused
    worker.post_inbound(live.url, worker.inbound_params(ALICE, pair, "timed out, not accepted"))
    eventually(lambda: sent(live), timeout=30)
    time.sleep(0.5)
    assert [s.body for s in worker.sent_to(BOB)] == ["timed out, not accepted"]
    assert worker.lookups == 1  # asked once, found nothing, sent
    row = bobs_delivery(live)
    assert [(status, code) for status, code, _ in attempts_of(live, row.id)] == [(None, 20504), (201, None)]


def test_a_worker_that_died_mid_send_leaves_a_lookup_for_the_next_one(
    live: LiveBridge, worker: FakeCarrier, pair: str, sweeper: None
) -> None:
    worker.post_inbound(live.url, worker.inbound_params(ALICE, pair, "the worker died"))
    [accepted] = worker.wait_for(1)
    eventually(lambda: sent(live))
    # What a SIGKILL after the carrier's answer leaves behind: the claim, and no record of the answer.
    row = bobs_delivery(live)
    claimed = utcnow() - timedelta(seconds=2)
    with live.database.transaction() as session:
        session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id == row.id))
        session.execute(
            update(Delivery)
            .where(Delivery.id == row.id)
            .values(
                status="sending",
                sends_done=0,
                channel_message_sid=None,
                last_part_sid=None,
                sending_since=claimed,
                lease_until=utcnow() - timedelta(seconds=1),
            )
        )
    eventually(lambda: sent(live), timeout=30)  # the sweeper released it; a worker claimed it again
    time.sleep(0.5)
    assert [s.body for s in worker.sent_to(BOB)] == ["the worker died"]
    assert worker.lookups == 1
    assert attempts_of(live, row.id) == [(200, None, accepted.sid)]


def test_a_lookup_the_carrier_cannot_answer_now_is_retried_before_anything_is_sent(
    live: LiveBridge, worker: FakeCarrier, pair: str
) -> None:
    worker.answer_delay = CARRIER_TIMEOUT + 1.5
    worker.lookup_failure = Failure(503, 20500, "Service unavailable")
    worker.post_inbound(live.url, worker.inbound_params(ALICE, pair, "lookups failing"))
    worker.wait_for(1)
    worker.answer_delay = 0.0
    eventually(lambda: worker.lookups >= 2, timeout=30)
    assert len(worker.sent_to(BOB)) == 1  # while the carrier cannot be asked, nothing is sent again
    worker.lookup_failure = None
    eventually(lambda: sent(live), timeout=30)
    time.sleep(0.5)
    assert len(worker.sent_to(BOB)) == 1


def test_a_carrier_that_refuses_lookups_gets_the_send_again(live: LiveBridge, worker: FakeCarrier, pair: str) -> None:
    """An account that may send but not read (say, a restricted API key): at least once, rather than never."""
    worker.answer_delay = CARRIER_TIMEOUT + 1.5
    worker.lookup_failure = Failure(403, 20003, "Permission denied")
    worker.post_inbound(live.url, worker.inbound_params(ALICE, pair, "no lookups allowed"))
    worker.wait_for(1)
    worker.answer_delay = 0.0
    eventually(lambda: sent(live), timeout=30)
    assert [s.body for s in worker.sent_to(BOB)] == ["no lookups allowed"] * 2
    assert worker.lookups == 1

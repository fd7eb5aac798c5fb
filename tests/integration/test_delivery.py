"""Inbound carrier messages and REST messages reach every other participant, through a real Celery worker
and a fake Twilio on loopback: the right From/To, once each, in order, through carrier failures."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update
from twilio.rest import Client

from bridge.models import Delivery, DeliveryAttempt, Message, Participant, UnroutedMessage
from bridge.timeutil import utcnow
from tests.integration.conftest import delivery_statuses
from tests.support.fake_carrier import Failure, FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

ALICE, BOB, CAROL = "+14155550101", "+14155550102", "+14155550103"
WALTER = "whatsapp:+14155550104"


@dataclass
class Room:
    sid: str
    sms_proxy: str
    whatsapp_proxy: str

    def recipients_of(self, author: str) -> list[tuple[str, str]]:
        """(To, From) the carrier should see for a message written by `author`."""
        everyone = [
            (ALICE, self.sms_proxy),
            (BOB, self.sms_proxy),
            (CAROL, self.sms_proxy),
            (WALTER, self.whatsapp_proxy),
        ]
        return [pair for pair in everyone if pair[0] != author]


@pytest.fixture
def room(client: Client, sender_pool: dict[str, str], live: LiveBridge) -> Room:
    """Three SMS participants and one WhatsApp participant in one conversation."""
    conversation = client.conversations.v1.conversations.create(friendly_name="four people")
    for address in (ALICE, BOB, CAROL):
        conversation.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms"]
        )
    walter = conversation.participants.create(
        messaging_binding_address=WALTER, messaging_binding_proxy_address=sender_pool["whatsapp"]
    )
    # Walter wrote an hour ago, so his WhatsApp customer-service window is open (the window rules have tests
    # of their own); an inbound message here would add sends and messages every test would have to discount.
    with live.database.transaction() as session:
        session.execute(
            update(Participant)
            .where(Participant.sid == walter.sid)
            .values(last_inbound_at=utcnow() - timedelta(hours=1))
        )
    return Room(conversation.sid, sender_pool["sms"], sender_pool["whatsapp"])


def all_delivered(live: LiveBridge, expected: int) -> bool:
    counts = delivery_statuses(live)
    return counts.get("delivered", 0) == expected and sum(counts.values()) == expected


def test_inbound_sms_reaches_every_other_participant_on_their_channel(
    live: LiveBridge, worker: FakeCarrier, room: Room, client: Client
) -> None:
    response = worker.post_inbound(live.url, worker.inbound_params(ALICE, room.sms_proxy, "hello all"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert "<Response>" in response.text

    sends = worker.wait_for(3)
    time.sleep(0.3)  # a fourth send would be a bug: give it the chance to show up
    assert sorted((s.to_address, s.from_address) for s in worker.snapshot()) == sorted(room.recipients_of(ALICE))
    assert {s.body for s in sends} == {"hello all"}
    assert all(s.status_callback and s.status_callback.startswith(live.url) for s in sends)

    eventually(lambda: all_delivered(live, 3), message="receipts never reached delivered")
    message = client.conversations.v1.conversations(room.sid).messages.list()[0]
    assert message.author == ALICE and message.body == "hello all" and message.participant_sid
    assert message.delivery == {
        "total": 3, "sent": "all", "delivered": "all", "read": "none", "failed": "none", "undelivered": "none"
    }  # fmt: skip
    receipts = client.conversations.v1.conversations(room.sid).messages(message.sid).delivery_receipts.list()
    assert sorted(r.status for r in receipts) == ["delivered"] * 3
    assert {r.channel_message_sid for r in receipts} == {s.sid for s in sends}
    assert all(r.error_code == 0 for r in receipts)


def test_a_webhook_posted_three_times_makes_one_message_and_one_set_of_sends(
    live: LiveBridge, worker: FakeCarrier, room: Room, client: Client
) -> None:
    params = worker.inbound_params(BOB, room.sms_proxy, "only once")
    for _ in range(3):
        assert worker.post_inbound(live.url, params).status_code == 200
    worker.wait_for(3)
    eventually(lambda: all_delivered(live, 3))
    time.sleep(0.3)
    assert len(worker.snapshot()) == 3
    assert len(client.conversations.v1.conversations(room.sid).messages.list()) == 1


def test_two_hundred_messages_reach_each_recipient_in_index_order(
    live: LiveBridge, worker: FakeCarrier, room: Room
) -> None:
    total = 200
    for n in range(total):
        assert worker.post_inbound(live.url, worker.inbound_params(ALICE, room.sms_proxy, f"m-{n}")).status_code == 200
    worker.wait_for(total * 3, timeout=120)
    for recipient, _proxy in room.recipients_of(ALICE):
        bodies = [s.body for s in worker.sent_to(recipient)]
        assert bodies == [f"m-{n}" for n in range(total)], f"{recipient} got messages out of order"


def test_rest_messages_are_delivered_to_sms_and_whatsapp_participants_but_not_to_chat(
    live: LiveBridge, worker: FakeCarrier, room: Room, client: Client
) -> None:
    conversation = client.conversations.v1.conversations(room.sid)
    conversation.participants.create(identity="agent")
    conversation.messages.create(author="agent", body="from the agent")
    worker.wait_for(4)
    eventually(lambda: all_delivered(live, 4))
    assert sorted(s.to_address for s in worker.snapshot()) == sorted([ALICE, BOB, CAROL, WALTER])


def test_the_recipients_of_one_message_are_sent_to_at_the_same_time(
    live: LiveBridge, worker: FakeCarrier, client: Client, sender_pool: dict[str, str]
) -> None:
    """One message to many SMS participants does not wait for one carrier call after another."""
    conversation = client.conversations.v1.conversations.create(friendly_name="a crowd")
    crowd = [f"+1415555{n:04d}" for n in range(200, 212)]
    for address in crowd:
        conversation.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms"]
        )
    conversation.participants.create(identity="agent")
    worker.send_delay = 0.3  # a carrier that takes its time: sends one after another would never overlap
    conversation.messages.create(author="agent", body="to everyone")
    worker.wait_for(len(crowd), timeout=60)
    assert sorted(s.to_address for s in worker.snapshot()) == crowd
    assert worker.most_sends_in_flight > 1
    assert worker.most_sends_in_flight <= live.settings.send_concurrency


def test_a_participant_who_joins_later_gets_only_later_messages(
    live: LiveBridge, worker: FakeCarrier, client: Client, sender_pool: dict[str, str]
) -> None:
    conversation = client.conversations.v1.conversations.create()
    conversation.participants.create(
        messaging_binding_address=ALICE, messaging_binding_proxy_address=sender_pool["sms"]
    )
    conversation.messages.create(body="before bob")
    worker.wait_for(1)
    conversation.participants.create(messaging_binding_address=BOB, messaging_binding_proxy_address=sender_pool["sms"])
    conversation.messages.create(body="after bob")
    worker.wait_for(3)
    time.sleep(0.3)
    assert [s.body for s in worker.sent_to(BOB)] == ["after bob"]
    assert [s.body for s in worker.sent_to(ALICE)] == ["before bob", "after bob"]


def test_carrier_outage_delays_but_loses_nothing(
    live: LiveBridge, worker: FakeCarrier, room: Room, sweeper: None
) -> None:
    worker.outage = Failure(503, 20500, "Service unavailable")
    for n in range(10):
        worker.post_inbound(live.url, worker.inbound_params(CAROL, room.sms_proxy, f"during outage {n}"))
    eventually(lambda: len(worker.rejected) >= 6, message="the bridge never tried the carrier")
    worker.outage = None
    worker.wait_for(30, timeout=60)
    eventually(lambda: all_delivered(live, 30), timeout=60)
    sends = worker.snapshot()
    assert len(sends) == 30
    assert Counter((s.to_address, s.body) for s in sends).most_common(1)[0][1] == 1, "a message was sent twice"
    for recipient, _proxy in room.recipients_of(CAROL):
        assert [s.body for s in worker.sent_to(recipient)] == [f"during outage {n}" for n in range(10)]


def test_invalid_number_fails_at_once_with_the_carriers_code_and_others_still_arrive(
    live: LiveBridge, worker: FakeCarrier, room: Room, client: Client
) -> None:
    worker.failures_by_number[BOB] = Failure(400, 21211, f"The 'To' number {BOB} is not a valid phone number.")
    worker.post_inbound(live.url, worker.inbound_params(ALICE, room.sms_proxy, "bob is unreachable"))
    worker.wait_for(2)

    def bobs_delivery() -> Delivery | None:
        with live.database.transaction() as session:
            row = session.scalar(select(Delivery).where(Delivery.status == "failed"))
            return row

    failed = eventually(bobs_delivery)
    assert failed.error_code == 21211 and "not a valid phone number" in (failed.error_message or "")
    assert failed.attempts == 1
    with live.database.transaction() as session:
        attempts = session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == failed.id)).all()
    assert [(a.http_status, a.error_code, a.will_retry) for a in attempts] == [(400, 21211, False)]
    message = client.conversations.v1.conversations(room.sid).messages(
        client.conversations.v1.conversations(room.sid).messages.list()[0].sid
    )

    def receipts() -> list[tuple[str, int]]:
        return sorted((r.status, r.error_code) for r in message.delivery_receipts.list())

    # The other two are `sent` until their `delivered` callbacks land: wait for those, then the summary.
    eventually(lambda: receipts() == [("delivered", 0), ("delivered", 0), ("failed", 21211)])
    assert message.fetch().delivery["delivered"] == "some"


def test_rate_limited_sends_wait_for_retry_after(live: LiveBridge, worker: FakeCarrier, room: Room) -> None:
    answered: list[float] = []

    def first_call_rate_limited(params: dict[str, object]) -> Failure | None:
        answered.append(time.monotonic())
        return Failure(429, 20429, "Too Many Requests", retry_after=1) if len(answered) == 1 else None

    worker.policy = first_call_rate_limited
    worker.post_inbound(live.url, worker.inbound_params(WALTER, room.whatsapp_proxy, "slow down"))
    worker.wait_for(3)
    eventually(lambda: all_delivered(live, 3))
    retried = [s for s in worker.snapshot() if s.received_at > answered[0]]
    assert len(worker.snapshot()) == 3
    rate_limited_recipient = worker.rejected[0]["To"]
    second_try = next(s for s in retried if s.to_address == rate_limited_recipient)
    assert second_try.received_at - answered[0] >= 0.95, "Retry-After was not honoured"


def test_status_callbacks_twice_and_out_of_order_never_move_a_receipt_backwards(
    live: LiveBridge, worker: FakeCarrier, room: Room, client: Client
) -> None:
    worker.duplicate_callbacks = True
    worker.reverse_callbacks = True  # delivered first, then a late sent
    worker.post_inbound(live.url, worker.inbound_params(ALICE, room.sms_proxy, "callbacks in a muddle"))
    sends = worker.wait_for(3)
    eventually(lambda: all_delivered(live, 3))
    time.sleep(0.5)  # the late `sent` callbacks have landed by now
    assert all_delivered(live, 3)
    for send in sends:  # and once more, well after the fact
        assert worker.post_status(send, "sent") == 200
    assert all_delivered(live, 3)


def test_a_callback_that_arrives_before_the_send_is_recorded_still_resolves(
    live: LiveBridge, worker: FakeCarrier, room: Room
) -> None:
    worker.callback_delay = 0.0
    worker.send_delay = 0.2  # the callbacks race the carrier's own HTTP answer
    try:
        worker.post_inbound(live.url, worker.inbound_params(ALICE, room.sms_proxy, "early callback"))
        worker.wait_for(3)
        eventually(lambda: all_delivered(live, 3))
        with live.database.transaction() as session:
            rows = session.scalars(select(Delivery)).all()
        assert {r.channel_message_sid for r in rows} == {s.sid for s in worker.snapshot()}
    finally:
        worker.callback_delay = 0.05


def test_a_final_failure_callback_records_the_carriers_error(live: LiveBridge, worker: FakeCarrier, room: Room) -> None:
    worker.callback_statuses = ("sent",)
    worker.post_inbound(live.url, worker.inbound_params(ALICE, room.sms_proxy, "will bounce"))
    sends = worker.wait_for(3)
    eventually(lambda: delivery_statuses(live).get("sent") == 3)
    assert worker.post_status(sends[0], "undelivered", error_code=30003) == 200
    assert worker.post_status(sends[0], "delivered") == 200  # final stays final
    with live.database.transaction() as session:
        bounced = session.scalar(select(Delivery).where(Delivery.channel_message_sid == sends[0].sid))
    assert (bounced.status, bounced.error_code) == ("undelivered", 30003)


def count_rows(live: LiveBridge, model: type) -> int:
    with live.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize(
    ("signature", "status"),
    [("", 403), ("bm90IGEgc2lnbmF0dXJl", 403)],
    ids=["missing", "wrong"],
)
def test_a_bad_or_missing_signature_is_refused_and_nothing_stored(
    live: LiveBridge, worker: FakeCarrier, room: Room, signature: str, status: int
) -> None:
    response = worker.post_inbound(
        live.url, worker.inbound_params(ALICE, room.sms_proxy, "forged"), signature=signature
    )
    assert response.status_code == status
    assert response.json()["code"] == 20003
    assert count_rows(live, Message) == 0 and count_rows(live, UnroutedMessage) == 0


def test_a_signature_made_with_another_token_is_refused(live: LiveBridge, worker: FakeCarrier, room: Room) -> None:
    from twilio.request_validator import RequestValidator

    params = worker.inbound_params(ALICE, room.sms_proxy, "wrong key")
    forged = RequestValidator("some-other-token").compute_signature(f"{live.url}/webhooks/twilio/inbound", params)
    assert worker.post_inbound(live.url, params, signature=forged).status_code == 403
    assert count_rows(live, Message) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("From", "not-a-number"), ("To", "+1"), ("From", "")],
)
def test_malformed_addresses_are_refused_and_nothing_stored(
    live: LiveBridge, worker: FakeCarrier, room: Room, field: str, value: str
) -> None:
    params = worker.inbound_params(ALICE, room.sms_proxy, "bad address")
    params[field] = value
    response = worker.post_inbound(live.url, params)
    assert response.status_code == 400
    assert count_rows(live, Message) == 0 and count_rows(live, UnroutedMessage) == 0


def test_an_oversized_webhook_is_refused_and_nothing_stored(live: LiveBridge, worker: FakeCarrier, room: Room) -> None:
    params = worker.inbound_params(ALICE, room.sms_proxy, "x" * 400_000)
    response = worker.post_inbound(live.url, params)
    assert response.status_code == 413
    assert count_rows(live, Message) == 0


def test_signatures_cover_the_raw_query_string(live: LiveBridge, worker: FakeCarrier, room: Room) -> None:
    """Twilio signs the URL as configured, percent-escapes included."""
    query = "tenant=caf%C3%A9%20bar&x=a%2Fb"
    url = f"{live.url}/webhooks/twilio/inbound?{query}"
    params = worker.inbound_params(ALICE, room.sms_proxy, "query string")
    signature = worker.validator.compute_signature(url, params)
    response = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert response.status_code == 200
    assert count_rows(live, Message) == 1


def test_an_unbound_pair_is_kept_as_unrouted_and_answered(live: LiveBridge, worker: FakeCarrier, room: Room) -> None:
    params = worker.inbound_params("+14155550199", room.sms_proxy, "who is this?")
    assert worker.post_inbound(live.url, params).status_code == 200
    assert worker.post_inbound(live.url, params).status_code == 200  # a retry changes nothing
    with live.database.transaction() as session:
        kept = session.scalars(select(UnroutedMessage)).all()
    assert [(u.from_address, u.to_address, u.body) for u in kept] == [("+14155550199", room.sms_proxy, "who is this?")]
    assert kept[0].payload["MessageSid"] == params["MessageSid"]
    assert count_rows(live, Message) == 0


def test_autocreation_makes_a_conversation_for_an_unbound_sender(
    live: LiveBridge, worker: FakeCarrier, client: Client, sender_pool: dict[str, str]
) -> None:
    client.conversations.v1.address_configurations.create(
        type="sms", address=sender_pool["sms2"], auto_creation_enabled=True
    )
    stranger = "+14155550177"
    assert (
        worker.post_inbound(live.url, worker.inbound_params(stranger, sender_pool["sms2"], "hi there")).status_code
        == 200
    )
    conversations = client.conversations.v1.participant_conversations.list(address=stranger)
    assert len(conversations) == 1
    conversation = client.conversations.v1.conversations(conversations[0].conversation_sid)
    assert [(m.author, m.body) for m in conversation.messages.list()] == [(stranger, "hi there")]
    participant = conversation.participants.list()[0]
    assert participant.messaging_binding["proxy_address"] == sender_pool["sms2"]
    # The next message from the same sender lands in the same conversation.
    worker.post_inbound(live.url, worker.inbound_params(stranger, sender_pool["sms2"], "me again"))
    assert len(conversation.messages.list()) == 2
    assert len(client.conversations.v1.participant_conversations.list(address=stranger)) == 1


def test_an_inactive_conversation_wakes_up_on_an_inbound_message(
    live: LiveBridge, worker: FakeCarrier, room: Room, client: Client
) -> None:
    client.conversations.v1.conversations(room.sid).update(state="inactive")
    worker.post_inbound(live.url, worker.inbound_params(ALICE, room.sms_proxy, "wake up"))
    assert client.conversations.v1.conversations(room.sid).fetch().state == "active"
    worker.wait_for(3)

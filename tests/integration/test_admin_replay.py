"""Replaying failed deliveries: each goes out exactly once (counted at the carrier), however many admins
press the button, and the send-time rules still hold. Also the CLI face and re-routing."""

from __future__ import annotations

import threading
from collections import Counter

from click.testing import CliRunner
from sqlalchemy import select
from twilio.rest import Client

from bridge import admin
from bridge.models import AdminAction, UnroutedMessage
from tests.integration.conftest import delivery_statuses
from tests.support.fake_carrier import Failure, FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually
from workers.cli import main as bridge_cli

GOOD, BAD, FLAKY = "+14155550131", "+14155550132", "+14155550133"


def finished(live: LiveBridge) -> bool:
    counts = delivery_statuses(live)
    return counts["pending"] == 0 and counts["sending"] == 0


def fail_some(client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, count: int) -> str:
    """`count` messages to three recipients: one invalid number (21211), one while the carrier is down past the
    retry limit (503), one fine. Returns the conversation SID."""
    conversation = client.conversations.v1.conversations.create()
    for address in (GOOD, BAD, FLAKY):
        conversation.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms"]
        )
    worker.failures_by_number[BAD] = Failure(400, 21211, f"The 'To' number {BAD} is not a valid phone number.")
    worker.failures_by_number[FLAKY] = Failure(503, 20500, "Service unavailable")
    for n in range(count):
        conversation.messages.create(body=f"note {n}")
    eventually(lambda: finished(live) and delivery_statuses(live)["failed"] == 2 * count, timeout=60)
    return conversation.sid


def test_failures_are_listed_with_their_codes_and_counted(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, few_attempts: None
) -> None:
    fail_some(client, sender_pool, worker, live, 3)
    with live.database.transaction() as session:
        invalid = admin.list_deliveries(session, admin.DeliveryFilter(error_codes=(21211,)), admin_page())
        by_code = {entry.error_code: entry.count for entry in admin.failures_by_error_code(session)}
        counts = admin.counts_by_status(session)
    assert [(row.status, row.address, row.error_code) for row in invalid.items] == [("failed", BAD, 21211)] * 3
    assert "not a valid phone number" in (invalid.items[0].error_message or "")
    assert by_code == {21211: 3, 20500: 3}
    assert (counts["failed"], counts["delivered"] + counts["sent"]) == (6, 3)


def admin_page(size: int = 100) -> admin.PageRequest:
    return admin.PageRequest(page_size=size)


def test_a_replay_by_filter_delivers_each_once_and_a_second_replay_sends_nothing(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, few_attempts: None
) -> None:
    fail_some(client, sender_pool, worker, live, 4)
    worker.failures_by_number.clear()  # the carrier recovers, and the number was fixed
    sent_before = Counter(s.to_address for s in worker.snapshot())
    result = admin.replay(live.database.transaction, admin.DeliveryFilter(), "tester")
    assert (result.matched, result.replayed, result.skipped) == (8, 8, 0)
    eventually(lambda: finished(live) and delivery_statuses(live)["failed"] == 0, timeout=60)
    sent = Counter(s.to_address for s in worker.snapshot()) - sent_before
    assert sent == Counter({BAD: 4, FLAKY: 4})
    assert Counter((s.to_address, s.body) for s in worker.snapshot()).most_common(1)[0][1] == 1

    again = admin.replay(live.database.transaction, admin.DeliveryFilter(), "tester")
    assert (again.matched, again.replayed) == (0, 0)
    with live.database.transaction() as session:
        audit = session.scalars(select(AdminAction).order_by(AdminAction.id)).all()
    assert [(a.actor, a.action, a.details["replayed"]) for a in audit] == [
        ("tester", "replay", 8),
        ("tester", "replay", 0),
    ]


def test_two_concurrent_replays_of_the_same_filter_send_each_once(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, few_attempts: None
) -> None:
    fail_some(client, sender_pool, worker, live, 10)
    worker.failures_by_number.clear()
    sent_before = len(worker.snapshot())
    results: list[admin.ReplayResult] = []
    start = threading.Barrier(2)

    def press_replay(actor: str) -> None:
        start.wait()
        results.append(admin.replay(live.database.transaction, admin.DeliveryFilter(), actor))

    admins = [threading.Thread(target=press_replay, args=(name,)) for name in ("ada", "grace")]
    for thread in admins:
        thread.start()
    for thread in admins:
        thread.join(timeout=60)
    assert sum(r.replayed for r in results) == 20
    eventually(lambda: finished(live) and delivery_statuses(live)["failed"] == 0, timeout=60)
    replays = [(s.to_address, s.body) for s in worker.snapshot()[sent_before:]]
    assert len(replays) == 20 and len(set(replays)) == 20


def test_a_replay_only_touches_what_its_filter_names(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, few_attempts: None
) -> None:
    fail_some(client, sender_pool, worker, live, 2)
    worker.failures_by_number.clear()
    result = admin.replay(live.database.transaction, admin.DeliveryFilter(error_codes=(21211,), address=BAD), "t")
    assert result.replayed == 2
    eventually(lambda: finished(live) and delivery_statuses(live)["failed"] == 2)
    with live.database.transaction() as session:
        still = admin.list_deliveries(session, admin.DeliveryFilter(), admin_page())
    assert {row.address for row in still.items} == {FLAKY}


def test_an_opted_out_recipient_stays_blocked_when_replayed(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, few_attempts: None
) -> None:
    fail_some(client, sender_pool, worker, live, 1)
    worker.failures_by_number.clear()
    worker.post_inbound(live.url, worker.inbound_params(BAD, sender_pool["sms"], "STOP"))
    eventually(lambda: finished(live))
    sent_before = len(worker.snapshot())
    admin.replay(live.database.transaction, admin.DeliveryFilter(address=BAD), "t")
    eventually(lambda: finished(live))
    with live.database.transaction() as session:
        blocked = admin.list_deliveries(session, admin.DeliveryFilter(address=BAD), admin_page())
    assert [(row.status, row.error_code) for row in blocked.items] == [("failed", 21610)]
    assert [s for s in worker.snapshot()[sent_before:] if s.to_address == BAD] == []


def test_the_cli_lists_and_replays(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, few_attempts: None
) -> None:
    fail_some(client, sender_pool, worker, live, 3)
    runner = CliRunner(env=live.environment)
    listed = runner.invoke(
        bridge_cli, ["deliveries", "list", "--status", "failed", "--error-code", "21211", "--since", "2h"]
    )
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("21211") == 3 and "3 shown of 3 matching" in listed.output
    counted = runner.invoke(bridge_cli, ["deliveries", "counts", "--since", "1h"])
    assert "21211" in counted.output and "20500" in counted.output

    worker.failures_by_number.clear()
    replayed = runner.invoke(bridge_cli, ["deliveries", "replay", "--error-code", "21211", "--yes", "--actor", "ops"])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 3 of 3" in replayed.output
    eventually(lambda: finished(live) and delivery_statuses(live)["failed"] == 3)
    nothing = runner.invoke(bridge_cli, ["deliveries", "replay", "--error-code", "21211", "--yes"])
    assert "nothing to replay" in nothing.output
    bad_time = runner.invoke(bridge_cli, ["deliveries", "list", "--since", "yesterday-ish"])
    assert bad_time.exit_code == 2 and "Not a time" in bad_time.output


def test_timeline_shows_every_attempt_and_callback(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, few_attempts: None
) -> None:
    sid = fail_some(client, sender_pool, worker, live, 1)
    message = client.conversations.v1.conversations(sid).messages.list()[0]
    eventually(lambda: delivery_statuses(live)["delivered"] == 1)
    with live.database.transaction() as session:
        story = admin.timeline(session, message.sid)
    by_address = {r.delivery.address: r for r in story.recipients}
    assert [(a.http_status, a.error_code, a.will_retry) for a in by_address[BAD].attempts] == [(400, 21211, False)]
    assert [(a.http_status, a.will_retry) for a in by_address[FLAKY].attempts] == [(503, True), (503, False)]
    good = by_address[GOOD]
    assert [(a.http_status, a.carrier_message_sid is not None) for a in good.attempts] == [(201, True)]
    assert [e.carrier_status for e in good.events] == ["sent", "delivered"]


def test_an_unrouted_message_is_rerouted_once_its_participant_exists(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    stranger = "+14155550139"
    worker.post_inbound(live.url, worker.inbound_params(stranger, sender_pool["sms"], "anyone there?"))
    with live.database.transaction() as session:
        (kept,) = session.scalars(select(UnroutedMessage)).all()
    early = admin.reroute(live.database.transaction, kept.id, "ops")
    assert (early.routed, early.reason) == (False, "no participant is bound to this pair yet")

    conversation = client.conversations.v1.conversations.create()
    conversation.participants.create(
        messaging_binding_address=stranger, messaging_binding_proxy_address=sender_pool["sms"]
    )
    conversation.participants.create(messaging_binding_address=GOOD, messaging_binding_proxy_address=sender_pool["sms"])
    routed = admin.reroute(live.database.transaction, kept.id, "ops")
    assert routed.routed and routed.message_sid
    assert [(m.author, m.body) for m in conversation.messages.list()] == [(stranger, "anyone there?")]
    assert [s.body for s in worker.wait_for(1)] == ["anyone there?"]
    twice = admin.reroute(live.database.transaction, kept.id, "ops")
    assert (twice.routed, twice.reason) == (False, "already routed")
    assert len(conversation.messages.list()) == 1

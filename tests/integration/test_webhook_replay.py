"""Replaying failed post-event webhook calls, on a live bridge with a real worker and a real receiver on
loopback: a call the receiver failed past its attempts is listed with every attempt; a replay sends it once more
(with the same I-Twilio-Idempotency-Token), however many admins replay it at once; the audit trail records it;
the order of its line holds and nothing is blocked for good; and the CLI face."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bridge import admin
from bridge.errors import BridgeError
from bridge.hooks import admin as hooks_admin
from bridge.models import AdminAction
from tests.integration.conftest import FailCalls, call_statuses, text_in
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Answer, Received, WebhookReceiver
from workers.cli import main as bridge_cli

TOKEN = "I-Twilio-Idempotency-Token"
PAGE = admin.PageRequest(page_size=100)


def replay(live: LiveBridge, filt: hooks_admin.WebhookCallFilter, actor: str = "ops") -> admin.ReplayResult:
    return admin.replay(live.database.transaction, filt, actor, kind=hooks_admin.WEBHOOK_CALLS)


def tokens(requests: list[Received]) -> Counter[str]:
    return Counter(r.headers.get(TOKEN, "") for r in requests)


def test_a_call_failed_past_its_attempts_is_listed_with_every_attempt(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
) -> None:
    conversation = failed_calls()
    with live.database.transaction() as session:
        (call,) = hooks_admin.list_calls(session, hooks_admin.WebhookCallFilter(), PAGE).items
        story = hooks_admin.call_story(session, call.sid)
        by_status = hooks_admin.counts_by_status(session)
        by_error = hooks_admin.failures_by_error(session)
    assert (call.status, call.event_type, call.target) == ("failed", "onMessageAdded", "account")
    assert call.url == receiver.url()
    assert (call.conversation_sid, call.attempts, call.http_status, call.error) == (conversation, 2, 500, "HTTP 500")
    assert [(a.attempt, a.http_status, a.error, a.will_retry) for a in story.attempts] == [
        (1, 500, "HTTP 500", True),
        (2, 500, "HTTP 500", False),
    ]
    assert all(a.duration_ms >= 0 for a in story.attempts)
    assert story.payload["Body"] == "where is my order?" and story.payload["EventType"] == "onMessageAdded"
    assert by_status == {"pending": 0, "sending": 0, "delivered": 0, "failed": 1}
    assert [(e.error, e.count) for e in by_error] == [("HTTP 500", 1)]
    # What the receiver got: two signed attempts carrying the call's SID as their idempotency token.
    assert [(r.signature_valid, r.fields["RetryCount"]) for r in receiver.requests()] == [(True, "0"), (True, "1")]
    assert tokens(receiver.requests()) == Counter({call.sid: 2})


def test_a_replay_by_sid_sends_the_call_once_with_its_idempotency_token_and_is_audited(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
) -> None:
    failed_calls()
    with live.database.transaction() as session:
        (call,) = hooks_admin.list_calls(session, hooks_admin.WebhookCallFilter(), PAGE).items
    receiver.answer = lambda _: Answer(200)  # the application's backend is fixed
    before = len(receiver.requests())
    result = replay(live, hooks_admin.WebhookCallFilter(call_sids=(call.sid,)))
    assert (result.matched, result.replayed, result.skipped) == (1, 1, 0)
    eventually(lambda: call_statuses(live) == Counter({"delivered": 1}))
    replayed = receiver.requests()[before:]
    assert tokens(replayed) == Counter({call.sid: 1})
    assert replayed[0].signature_valid and replayed[0].fields["Body"] == "where is my order?"

    again = replay(live, hooks_admin.WebhookCallFilter(call_sids=(call.sid,), statuses=("failed", "delivered")))
    assert (again.matched, again.replayed) == (0, 0)
    with live.database.transaction() as session:
        story = hooks_admin.call_story(session, call.sid)
        audit = session.scalars(select(AdminAction).order_by(AdminAction.id)).all()
    assert [(a.attempt, a.http_status) for a in story.attempts] == [(1, 500), (2, 500), (1, 200)]
    assert (story.call.status, story.call.error, story.call.delivered_at is not None) == ("delivered", None, True)
    assert [(a.actor, a.summary, a.details["kind"], a.details["replayed"]) for a in audit] == [
        ("ops", "replayed 1 of 1 webhook calls", "webhook", 1),
        ("ops", "replayed 0 of 0 webhook calls", "webhook", 0),
    ]
    assert audit[0].details["filter"] == {"statuses": ["failed"], "call_sids": [call.sid]}
    assert len(receiver.requests()) == before + 1


def test_a_replay_by_filter_touches_only_what_it_names(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
) -> None:
    bodies = ("one", "two", "three")
    conversation = failed_calls(*bodies)
    receiver.answer = lambda _: Answer(200)
    elsewhere = hooks_admin.WebhookCallFilter(conversation_sid="CH" + "0" * 32)
    assert replay(live, elsewhere).matched == 0
    other_url = hooks_admin.WebhookCallFilter(url=receiver.url("/elsewhere"))
    assert replay(live, other_url).matched == 0
    before = len(receiver.requests())
    named = hooks_admin.WebhookCallFilter(
        event_types=("onMessageAdded",), target="account", conversation_sid=conversation, url=receiver.url()
    )
    result = replay(live, named)
    assert (result.matched, result.replayed, result.skipped) == (3, 3, 0)
    eventually(lambda: call_statuses(live) == Counter({"delivered": 3}))
    replayed = receiver.requests()[before:]
    # Each once, and in their line's order (the conversation's events, to one target).
    assert [r.fields["Body"] for r in replayed] == list(bodies)
    assert set(tokens(replayed).values()) == {1} and len(tokens(replayed)) == 3


def test_two_concurrent_replays_send_each_call_once(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
) -> None:
    bodies = tuple(f"note {n}" for n in range(6))
    failed_calls(*bodies)
    receiver.answer = lambda _: Answer(200)
    before = len(receiver.requests())
    results: list[admin.ReplayResult] = []
    start = threading.Barrier(2)

    def press_replay(actor: str) -> None:
        start.wait()
        results.append(replay(live, hooks_admin.WebhookCallFilter(), actor))

    admins = [threading.Thread(target=press_replay, args=(name,)) for name in ("ada", "grace")]
    for thread in admins:
        thread.start()
    for thread in admins:
        thread.join(timeout=60)
    assert len(results) == 2 and sum(r.replayed for r in results) == 6
    assert all(r.replayed + r.skipped <= r.matched <= 6 for r in results)
    eventually(lambda: call_statuses(live) == Counter({"delivered": 6}))
    replayed = receiver.requests()[before:]
    assert len(replayed) == 6 and set(tokens(replayed).values()) == {1}
    assert sorted(r.fields["Body"] for r in replayed) == sorted(bodies)


def test_a_selection_two_admins_read_at_once_is_moved_by_one_of_them(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
) -> None:
    """The moment the threads above may or may not hit: both admins have read the same failed calls, then each
    moves them. Only the conditional UPDATE stands between that and a second send."""
    failed_calls("one", "two")
    receiver.answer = lambda _: Answer(200)
    kind = hooks_admin.WEBHOOK_CALLS
    with live.database.transaction() as session:
        seen_by_both = list(session.scalars(kind.query(hooks_admin.WebhookCallFilter()).with_only_columns(kind.key)))
    before = len(receiver.requests())
    with live.database.transaction() as session:
        first = kind.move(session, seen_by_both)
    with live.database.transaction() as session:
        second = kind.move(session, seen_by_both)  # the calls are pending, sending or delivered by now
    assert sorted(first) == sorted(seen_by_both) and len(first) == 2 and second == []
    eventually(lambda: call_statuses(live) == Counter({"delivered": 2}))
    with live.database.transaction() as session:
        assert kind.move(session, seen_by_both) == []  # delivered: never again
    assert len(receiver.requests()) == before + 2 and set(tokens(receiver.requests()[before:]).values()) == {1}


def test_a_replayed_call_goes_after_later_calls_of_its_line_and_holds_the_line_only_while_it_is_tried(
    live: LiveBridge,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
) -> None:
    sender = sender_pool["sms"]
    failed_calls("first")
    receiver.answer = lambda _: Answer(200)
    text_in(live, worker, sender, "second")  # the line was not held by the failed call
    eventually(lambda: call_statuses(live) == Counter({"failed": 1, "delivered": 1}))

    # The receiver still refuses the first (slowly); while it is being tried again, a new call waits behind it.
    receiver.answer = lambda r: Answer(500, delay=0.5) if r.fields.get("Body") == "first" else Answer(200)
    before = len(receiver.requests())
    assert replay(live, hooks_admin.WebhookCallFilter()).replayed == 1
    eventually(lambda: len(receiver.requests()) > before)  # the first is being tried
    text_in(live, worker, sender, "third")
    eventually(lambda: call_statuses(live) == Counter({"failed": 1, "delivered": 2}))
    order = [r.fields["Body"] for r in receiver.requests()[before:]]
    assert order == ["first", "first", "third"]

    text_in(live, worker, sender, "fourth")  # the replayed call failed again: the line goes on without it
    eventually(lambda: call_statuses(live) == Counter({"failed": 1, "delivered": 3}))
    assert [r.fields["Body"] for r in receiver.requests()[before:]][-1] == "fourth"


@pytest.mark.parametrize("statuses", [("delivered",), ("pending", "sending"), ()])
def test_only_failed_calls_are_replayed(live: LiveBridge, statuses: tuple[str, ...]) -> None:
    with pytest.raises(BridgeError) as refused:
        replay(live, hooks_admin.WebhookCallFilter(statuses=statuses))
    assert (refused.value.status, refused.value.message) == (400, "Only failed webhook calls can be replayed")
    with live.database.transaction() as session:
        assert session.scalars(select(AdminAction)).all() == []


def test_the_cli_lists_counts_and_replays(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
) -> None:
    failed_calls("one", "two")
    runner = CliRunner(env=live.environment)
    listed = runner.invoke(bridge_cli, ["webhooks", "list", "--event-type", "onMessageAdded", "--since", "1h"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("HTTP 500") == 2 and "2 shown of 2 matching" in listed.output
    assert listed.output.count(receiver.url()) == 2
    as_json = runner.invoke(bridge_cli, ["webhooks", "list", "--json", "--limit", "1"])
    assert as_json.exit_code == 0 and as_json.output.count('"status": "failed"') == 1
    counted = runner.invoke(bridge_cli, ["webhooks", "counts", "--since", "1h"])
    assert counted.exit_code == 0 and "failed" in counted.output and "HTTP 500" in counted.output

    receiver.answer = lambda _: Answer(200)
    before = len(receiver.requests())
    replayed = runner.invoke(bridge_cli, ["webhooks", "replay", "--target", "account", "--yes", "--actor", "ops"])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 2 of 2" in replayed.output
    eventually(lambda: call_statuses(live) == Counter({"delivered": 2}))
    assert len(receiver.requests()) == before + 2
    nothing = runner.invoke(bridge_cli, ["webhooks", "replay", "--yes"])
    assert nothing.exit_code == 0 and "nothing to replay" in nothing.output
    for bad in (["--target", "nobody"], ["--event-type", "onNothing"], ["--since", "yesterday-ish"]):
        refused = runner.invoke(bridge_cli, ["webhooks", "list", *bad])
        assert refused.exit_code == 2, (bad, refused.output)
    refused = runner.invoke(bridge_cli, ["webhooks", "replay", "--status", "delivered", "--yes"])
    assert refused.exit_code == 2 and "Only failed webhook calls" in refused.output
    with live.database.transaction() as session:
        audit = session.scalars(select(AdminAction)).all()
    assert [(a.actor, a.details["kind"], a.details["replayed"]) for a in audit] == [("ops", "webhook", 2)]

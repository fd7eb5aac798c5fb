"""Push notifications through a real Celery worker to fake FCM and APNs servers on loopback: who is pushed to
(the author, muted participants and disabled events are not), what each platform is sent, and what the worker
does with each answer (retry, give up, unregister a dead token, skip an online user) and an admin's replay."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select
from twilio.rest import Client

from bridge import accounts
from bridge.models import AdminAction, ChangeEvent, PushBinding, PushCredential, PushSend
from bridge.push import outbox as push_outbox
from bridge.push import planner, settings
from bridge.sids import new_sid
from bridge.timeutil import utcnow
from tests.integration.conftest import CUSTOMER, Api, text_in, worker_settings
from tests.integration.test_admin_api import script
from tests.integration.test_media import PNG, uploaded
from tests.support.fake_carrier import FakeCarrier
from tests.support.fake_push import FakeAPNs, FakeFCM
from tests.support.live import LiveBridge
from tests.support.tls import LocalAuthority
from tests.support.waiting import eventually
from workers.cli import main as bridge_cli

__all__ = ["script"]  # the admin API suite's fixture: a script signed in with the admin credentials

ALL_TYPES = ["new_message", "added_to_conversation", "removed_from_conversation"]


@pytest.fixture(scope="module")
def fake_fcm() -> Iterator[FakeFCM]:
    fcm = FakeFCM()
    yield fcm
    fcm.stop()


@pytest.fixture(scope="module")
def fake_apns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAPNs]:
    apns = FakeAPNs(LocalAuthority(tmp_path_factory.mktemp("apns")))
    yield apns
    apns.stop()


def push_statuses(live: LiveBridge) -> Counter[str]:
    with live.database.transaction() as session:
        return Counter(dict(session.execute(select(PushSend.status, func.count()).group_by(PushSend.status)).all()))


def settle_pushes(live: LiveBridge, timeout: float = 30.0) -> None:
    """Waits until no push is being sent or due now (one waiting for a retry is gone after the next reset)."""
    eventually(lambda: not push_statuses(live)[push_outbox.SENDING], timeout=timeout)


@dataclass
class Pushing:
    """The worker pointed at the fakes, and what a test sets up through the domain."""

    live: LiveBridge
    fcm: FakeFCM
    apns: FakeAPNs

    def service_sid(self) -> str:
        with self.live.database.transaction() as session:
            return accounts.default_service(session).sid

    def notifications(self, **changes: Any) -> None:
        """The default service's settings, as `/Configuration/Notifications` sets them (form names)."""
        with self.live.database.transaction() as session:
            settings.update_settings(session, accounts.default_service(session), changes)

    def credential(self, kind: str) -> str:
        sid = new_sid("CR")
        with self.live.database.transaction() as session:
            if kind == "fcm":
                session.add(PushCredential(sid=sid, type="fcm", secret=self.fcm.service_account_json()))
            else:
                client = self.apns.client
                session.add(
                    PushCredential(
                        sid=sid,
                        type="apn",
                        sandbox=True,
                        certificate=client.certificate_pem,
                        private_key=client.key_pem,
                    )
                )
        return sid

    def binding(
        self, identity: str, kind: str, token: str, credential_sid: str | None, types: list[str] | None = None
    ) -> str:
        """A device registered for push, as the SDK's setPushRegistrationId leaves it."""
        sid = new_sid("BS")
        with self.live.database.transaction() as session:
            session.add(
                PushBinding(
                    sid=sid,
                    service_id=accounts.default_service(session).id,
                    identity=identity,
                    credential_sid=credential_sid,
                    binding_type=kind,
                    address=token,
                    endpoint=f"{identity}-endpoint-{sid[-6:]}",
                    message_types=ALL_TYPES if types is None else types,
                )
            )
        return sid

    def sends(self) -> list[PushSend]:
        with self.live.database.transaction() as session:
            return list(session.scalars(select(PushSend).order_by(PushSend.id)))

    def binding_exists(self, sid: str) -> bool:
        with self.live.database.transaction() as session:
            return session.scalar(select(PushBinding.id).where(PushBinding.sid == sid)) is not None


@pytest.fixture
def pushing(live: LiveBridge, worker: FakeCarrier, fake_fcm: FakeFCM, fake_apns: FakeAPNs) -> Iterator[Pushing]:
    fake_fcm.reset()
    fake_apns.reset()
    with worker_settings(
        fcm_url=fake_fcm.url, apns_url=fake_apns.url, apns_ca_file=str(fake_apns.ca_file), push_max_attempts=3
    ):
        yield Pushing(live, fake_fcm, fake_apns)
        settle_pushes(live)


def group_conversation(client: Client, *identities: str, friendly_name: str = "Support") -> Any:
    conversation = client.conversations.v1.conversations.create(friendly_name=friendly_name)
    for identity in identities:
        conversation.participants.create(identity=identity)
    return conversation


def test_a_new_message_is_pushed_to_every_other_chat_participant_but_muted_ones(
    pushing: Pushing, client: Client
) -> None:
    pushing.notifications(**{"NewMessage.Enabled": True, "NewMessage.Sound": "ding.wav"})
    credential = pushing.credential("fcm")
    for identity in ("alice", "bob", "carol"):
        pushing.binding(identity, "fcm", f"token-{identity}", credential)
    pushing.binding("bob", "fcm", "token-bob-no-credential", None)  # never registered with a credential
    pushing.binding("bob", "fcm", "token-bob-typing-only", credential, types=["typing_indicator"])
    conversation = group_conversation(client, "alice", "bob", "carol")
    client.conversations.v1.users("carol").user_conversations(conversation.sid).update(notification_level="muted")

    message = conversation.messages.create(author="alice", body="Where is my order?")

    [sent] = pushing.fcm.wait_for(1)
    assert sent.token == "token-bob"
    assert sent.body["message"]["data"] == {
        "twi_message_type": "twilio.conversations.new_message",
        "twi_body": "Support:alice: Where is my order?",
        "twi_sound": "ding.wav",
        "conversation_sid": conversation.sid,
        "conversation_title": "Support",
        "message_sid": message.sid,
        "message_index": "0",
        "author": "alice",
    }
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 1}))
    grants = pushing.fcm.grants
    conversation.messages.create(author="bob", body="On its way")
    pushing.fcm.wait_for(2)
    assert [request.token for request in pushing.fcm.snapshot()] == ["token-bob", "token-alice"]
    assert pushing.fcm.grants == grants  # the access token is kept, not asked for per push


def test_planning_an_event_twice_pushes_once(pushing: Pushing, client: Client) -> None:
    pushing.notifications(**{"NewMessage.Enabled": True})
    pushing.binding("bob", "fcm", "token-bob", pushing.credential("fcm"))
    conversation = group_conversation(client, "alice", "bob")
    conversation.messages.create(author="alice", body="once")
    pushing.fcm.wait_for(1)
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 1}))

    with pushing.live.database.transaction() as session:
        events = list(session.scalars(select(ChangeEvent).where(ChangeEvent.type == "onMessageAdded")))
        assert len(events) == 1 and events[0].webhooks_planned
        assert planner.plan(session, events) == []  # the (event, binding) row exists: nothing new
    assert len(pushing.sends()) == 1


def test_a_disabled_event_pushes_nothing_and_leaves_the_event_unread(pushing: Pushing, client: Client) -> None:
    pushing.binding("bob", "fcm", "token-bob", pushing.credential("fcm"))
    pushing.notifications(**{"NewMessage.Enabled": False, "AddedToConversation.Enabled": False})
    conversation = group_conversation(client, "alice", "bob")
    conversation.messages.create(author="alice", body="nobody is told")
    with pushing.live.database.transaction() as session:
        # No webhook and no push wants these events: written as planned, never read by a planner.
        assert session.scalar(select(func.count()).where(ChangeEvent.webhooks_planned.is_(False))) == 0
    assert pushing.sends() == [] and pushing.fcm.snapshot() == []


def test_added_and_removed_are_pushed_to_that_participant(pushing: Pushing, client: Client) -> None:
    pushing.notifications(
        **{
            "AddedToConversation.Enabled": True,
            "RemovedFromConversation.Enabled": True,
            "RemovedFromConversation.Template": "Bye from ${CONVERSATION_FRIENDLY_NAME}",
        }
    )
    pushing.binding("dave", "fcm", "token-dave", pushing.credential("fcm"))
    conversation = client.conversations.v1.conversations.create(friendly_name="Team", unique_name="team-7")
    participant = conversation.participants.create(identity="dave")
    [added] = pushing.fcm.wait_for(1)
    assert added.body["message"]["data"] == {
        "twi_message_type": "twilio.conversations.added_to_conversation",
        # Added over REST: nobody acted, so ${PARTICIPANT} is empty.
        "twi_body": "You have been added to the conversation team-7 by ",
        "conversation_sid": conversation.sid,
        "conversation_title": "Team",
    }
    conversation.participants(participant.sid).delete()
    removed = pushing.fcm.wait_for(2)[1]
    assert removed.body["message"]["data"]["twi_message_type"] == "twilio.conversations.removed_from_conversation"
    assert removed.body["message"]["data"]["twi_body"] == "Bye from Team"


def test_a_media_message_uses_the_with_media_template(pushing: Pushing, client: Client, api: Api) -> None:
    pushing.notifications(**{"NewMessage.Enabled": True, "NewMessage.WithMedia.Enabled": True})
    pushing.binding("bob", "fcm", "token-bob", pushing.credential("fcm"))
    conversation = group_conversation(client, "alice", "bob")
    media = uploaded(api, pushing.service_sid(), PNG, "image/png", Filename="cat.png")
    conversation.messages.create(author="alice", media_sid=media["sid"])
    [sent] = pushing.fcm.wait_for(1)
    data = sent.body["message"]["data"]
    assert data["twi_body"] == "You have a new message in Support with 1 media files: cat.png"
    assert data["media_count"] == "1"
    assert json.loads(data["media"]) == {
        "filename": "cat.png",
        "size": len(PNG),
        "content_type": "image/png",
        "sid": media["sid"],
    }


def test_failures_are_retried_then_failed_and_replayed(pushing: Pushing, client: Client) -> None:
    pushing.notifications(**{"NewMessage.Enabled": True})
    pushing.binding("bob", "fcm", "token-bob", pushing.credential("fcm"))
    conversation = group_conversation(client, "alice", "bob")

    pushing.fcm.fail_next = 2  # two 500s, then accepted: the third attempt goes through
    conversation.messages.create(author="alice", body="retried")
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 1}), timeout=30)
    [first] = pushing.sends()
    assert first.attempts == 3 and len(pushing.fcm.refused) == 2

    pushing.fcm.fail_next = 10  # past the three attempts
    conversation.messages.create(author="alice", body="given up")
    eventually(lambda: push_statuses(pushing.live)["failed"] == 1, timeout=30)
    failed = pushing.sends()[1]
    assert (failed.attempts, failed.error_code) == (3, 500)
    assert "INTERNAL" in (failed.error_message or "")

    pushing.fcm.fail_next = 0
    with pushing.live.database.transaction() as session:
        assert push_outbox.replay(session, [failed.id]) == [failed.id]
        assert push_outbox.replay(session, [failed.id]) == []  # in flight already: a second replay moves nothing
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 2}), timeout=30)
    assert [r.body["message"]["data"]["twi_body"] for r in pushing.fcm.snapshot()] == [
        "Support:alice: retried",
        "Support:alice: given up",
    ]


def test_a_dead_token_unregisters_its_binding(pushing: Pushing, client: Client) -> None:
    pushing.notifications(**{"NewMessage.Enabled": True})
    credential = pushing.credential("fcm")
    dead = pushing.binding("bob", "fcm", "token-dead", credential)
    invalid = pushing.binding("bob", "fcm", "token-invalid", credential)
    alive = pushing.binding("bob", "fcm", "token-alive", credential)
    pushing.fcm.unregistered.add("token-dead")
    pushing.fcm.invalid.add("token-invalid")
    conversation = group_conversation(client, "alice", "bob")
    conversation.messages.create(author="alice", body="hello")
    eventually(lambda: push_statuses(pushing.live) == Counter({"unregistered": 2, "sent": 1}))
    assert not pushing.binding_exists(dead) and not pushing.binding_exists(invalid)
    assert pushing.binding_exists(alive)
    conversation.messages.create(author="alice", body="again")
    eventually(lambda: push_statuses(pushing.live) == Counter({"unregistered": 2, "sent": 2}))
    assert [r.token for r in pushing.fcm.snapshot()] == ["token-alive", "token-alive"]


def test_apns_over_http2_with_the_client_certificate_and_badge(pushing: Pushing, client: Client) -> None:
    pushing.notifications(**{"NewMessage.Enabled": True, "NewMessage.BadgeCountEnabled": True})
    credential = pushing.credential("apn")
    pushing.binding("bob", "apn", "apns-bob", credential)
    gone = pushing.binding("bob", "apn", "apns-gone", credential)
    pushing.apns.unregistered.add("apns-gone")
    one_to_one = group_conversation(client, "alice", "bob", friendly_name="Alice and Bob")
    one_to_one.messages.create(author="alice", body="unread")

    [sent] = pushing.apns.wait_for(1)
    assert sent.http_version == "2" and sent.token == "apns-bob"
    assert sent.headers["apns-push-type"] == "alert" and sent.headers["apns-priority"] == "10"
    assert int(sent.headers["apns-expiration"]) > 0
    assert sent.body["aps"] == {"alert": {"body": "Alice and Bob:alice: unread"}, "badge": 1}
    assert sent.body["twi_message_type"] == "twilio.conversations.new_message"
    assert sent.body["message_index"] == 0 and sent.body["conversation_sid"] == one_to_one.sid
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 1, "unregistered": 1}))
    assert not pushing.binding_exists(gone)


def test_a_user_online_in_chat_is_not_pushed(pushing: Pushing, client: Client, live: LiveBridge) -> None:
    from bridge.chat import presence
    from workers import coordination

    pushing.notifications(**{"NewMessage.Enabled": True})
    pushing.binding("bob", "fcm", "token-bob", pushing.credential("fcm"))
    conversation = group_conversation(client, "alice", "bob")
    bob = client.conversations.v1.users("bob").fetch()
    redis = coordination.shared()
    presence.arrive(redis, "test-gateway-process", bob.sid)  # what a gateway holding a socket of bob's records
    try:
        conversation.messages.create(author="alice", body="seen in the app")
        eventually(lambda: push_statuses(pushing.live) == Counter({"skipped": 1}))
    finally:
        presence.leave(redis, "test-gateway-process", bob.sid)
    conversation.messages.create(author="alice", body="bob is away now")
    [sent] = pushing.fcm.wait_for(1)
    assert sent.body["message"]["data"]["twi_body"] == "Support:alice: bob is away now"


def test_an_sms_message_pushes_to_the_chat_participants(
    pushing: Pushing, client: Client, sender_pool: dict[str, str], worker: FakeCarrier
) -> None:
    pushing.notifications(**{"NewMessage.Enabled": True})
    pushing.binding("agent", "fcm", "token-agent", pushing.credential("fcm"))
    conversation = group_conversation(client, "agent")
    conversation.participants.create(
        messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"]
    )
    text_in(pushing.live, worker, sender_pool["sms"], "I need help")
    [sent] = pushing.fcm.wait_for(1)
    data = sent.body["message"]["data"]
    assert data["twi_body"] == f"Support:{CUSTOMER}: I need help" and data["author"] == CUSTOMER


def test_a_credential_of_another_platform_fails_the_push(pushing: Pushing, client: Client) -> None:
    pushing.notifications(**{"NewMessage.Enabled": True})
    pushing.binding("bob", "apn", "apns-bob", pushing.credential("fcm"))
    group_conversation(client, "alice", "bob").messages.create(author="alice", body="hi")
    eventually(lambda: push_statuses(pushing.live) == Counter({"failed": 1}))
    [failed] = pushing.sends()
    assert "credential" in (failed.error_message or "") and failed.attempts == 1


def test_the_sweeper_sends_a_push_whose_task_was_lost(pushing: Pushing, client: Client, live: LiveBridge) -> None:
    from workers.tasks import sweep_pushes

    pushing.notifications(**{"NewMessage.Enabled": True})
    pushing.binding("bob", "fcm", "token-bob", pushing.credential("fcm"))
    conversation = group_conversation(client, "alice", "bob")
    conversation.messages.create(author="alice", body="swept")
    pushing.fcm.wait_for(1)
    eventually(lambda: push_statuses(live) == Counter({"sent": 1}))
    # A push claimed by a worker that died: its lease ran out, and the sweeper hands it back.
    with live.database.transaction() as session:
        session.execute(
            PushSend.__table__.update().values(status="sending", lease_expires_at=utcnow() - timedelta(seconds=5))
        )
    sweep_pushes()  # as beat runs it: the push goes back to pending and is queued
    eventually(lambda: len(pushing.fcm.snapshot()) == 2)
    eventually(lambda: push_statuses(live) == Counter({"sent": 1}))
    # A push due long ago whose task Redis lost: queued again, once per grace period.
    [swept] = pushing.sends()
    with live.database.transaction() as session:
        session.execute(
            PushSend.__table__.update().values(status="pending", next_attempt_at=utcnow() - timedelta(minutes=5))
        )
    with live.database.transaction() as session:
        assert push_outbox.due(session, overdue_by=2) == [swept.id]
    with live.database.transaction() as session:
        assert push_outbox.due(session, overdue_by=2) == []  # just swept: due now, not overdue
        session.execute(PushSend.__table__.update().values(next_attempt_at=utcnow() - timedelta(minutes=5)))
    sweep_pushes()
    eventually(lambda: len(pushing.fcm.snapshot()) == 3)
    eventually(lambda: push_statuses(live) == Counter({"sent": 1}))


def failed_push(pushing: Pushing, client: Client) -> PushSend:
    """A new message whose push FCM answered 500 past its three attempts."""
    pushing.notifications(**{"NewMessage.Enabled": True})
    pushing.binding("bob", "fcm", "token-bob", pushing.credential("fcm"))
    pushing.fcm.fail_next = 10
    group_conversation(client, "alice", "bob").messages.create(author="alice", body="ops, replay me")
    eventually(lambda: push_statuses(pushing.live) == Counter({"failed": 1}), timeout=30)
    pushing.fcm.fail_next = 0
    [failed] = pushing.sends()
    return failed


def test_admins_list_failed_pushes_and_replay_them_through_the_api(
    pushing: Pushing, client: Client, script: requests.Session
) -> None:
    failed = failed_push(pushing, client)
    url = pushing.live.url + "/admin/api"
    listed = script.get(f"{url}/pushes", timeout=30)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["matching"] == 1
    [row] = body["pushes"]
    assert (row["sid"], row["status"], row["identity"], row["attempts"]) == (failed.sid, "failed", "bob", 3)
    assert (row["error_code"], row["replayable"]) == (500, True)
    assert script.get(f"{url}/pushes/counts", timeout=30).json()["by_status"]["failed"] == 1
    refused = script.get(f"{url}/pushes", params={"status": "lost"}, timeout=30)
    assert refused.status_code == 400 and refused.json()["code"] and "Unknown status" in refused.json()["message"]

    replayed = script.post(f"{url}/replay", json={"sids": [failed.sid]}, timeout=30)
    assert replayed.json() == {"matched": 1, "replayed": 1, "skipped": 0}
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 1}))
    again = script.post(f"{url}/replay", json={"kind": "push", "status": "failed"}, timeout=30)
    assert again.status_code == 200 and again.json()["replayed"] == 0
    with pushing.live.database.transaction() as session:
        actions = list(session.scalars(select(AdminAction).where(AdminAction.action == "replay")))
    assert [(action.details["kind"], action.details["replayed"]) for action in actions] == [("push", 1), ("push", 0)]


def test_bridge_push_failed_and_replay(pushing: Pushing, client: Client) -> None:
    failed = failed_push(pushing, client)
    runner = CliRunner(env=pushing.live.environment)
    listed = runner.invoke(bridge_cli, ["push", "failed"])
    assert listed.exit_code == 0, listed.output
    assert failed.sid in listed.output and "1 shown of 1 matching" in listed.output
    assert runner.invoke(bridge_cli, ["push", "replay"]).exit_code == 2  # names nothing

    replayed = runner.invoke(bridge_cli, ["push", "replay", failed.sid, "--yes", "--actor", "ops"])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1 of 1" in replayed.output
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 1}))
    assert "nothing to replay" in runner.invoke(bridge_cli, ["push", "replay", "--all-failed", "--yes"]).output


def test_every_device_of_a_group_larger_than_a_task_gets_one_push(pushing: Pushing, client: Client) -> None:
    from workers.dispatch import PUSH_BATCH

    pushing.notifications(**{"NewMessage.Enabled": True})
    credential = pushing.credential("fcm")
    devices = PUSH_BATCH * 2 + 3
    members = [f"member-{n}" for n in range(devices)]
    for identity in members:
        pushing.binding(identity, "fcm", f"token-{identity}", credential)
    conversation = group_conversation(client, "alice", *members)
    conversation.messages.create(author="alice", body="to everyone")
    pushing.fcm.wait_for(devices, timeout=60)
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": devices}), timeout=60)
    assert sorted(r.token for r in pushing.fcm.snapshot()) == sorted(f"token-{m}" for m in members)


def test_with_log_enabled_each_push_is_logged_with_its_token_masked(
    pushing: Pushing, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workers.push")
    pushing.notifications(**{"NewMessage.Enabled": True, "LogEnabled": True})
    token = "fcm-token-0123456789-abcdef"
    pushing.binding("bob", "fcm", token, pushing.credential("fcm"))
    group_conversation(client, "alice", "bob").messages.create(author="alice", body="logged")
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 1}))
    [push] = pushing.sends()
    lines = eventually(lambda: [r.getMessage() for r in caplog.records if push.sid in r.getMessage()])
    assert lines == [f"push {push.sid} (twilio.conversations.new_message) to fcm fcm-…cdef: sent after attempt 1"]
    assert token not in caplog.text


def test_a_task_delivered_twice_sends_once(pushing: Pushing, client: Client) -> None:
    from workers.tasks import send_pushes

    pushing.notifications(**{"NewMessage.Enabled": True})
    pushing.binding("bob", "fcm", "token-bob", pushing.credential("fcm"))
    group_conversation(client, "alice", "bob").messages.create(author="alice", body="once only")
    pushing.fcm.wait_for(1)
    eventually(lambda: push_statuses(pushing.live) == Counter({"sent": 1}))
    [push] = pushing.sends()
    send_pushes([push.id, push.id])  # Redis hands the same task out again: the claim finds nothing pending
    assert len(pushing.fcm.snapshot()) == 1 and pushing.sends()[0].attempts == 1

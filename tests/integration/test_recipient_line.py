"""A recipient's deliveries go out one at a time, in order: a delivery whose task finds an earlier one still
unfinished gives up, and the earlier one, once done, hands the line on. This checks the hand-over in the tightest
interleaving: the next delivery is committed, and its task gives up, while the earlier one's outcome is being
recorded. Without the sweeper (not running here) a missed hand-over would strand the line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select
from twilio.rest import Client

from bridge import accounts, delivery
from bridge.conversations import find_conversation
from bridge.db import Database
from bridge.messages import NewMessage, append_message
from bridge.models import Delivery
from tests.conftest import on_postgres
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from workers.dispatch import enqueue

BOB = "+14155550122"
AGENT = "agent"

pytestmark = pytest.mark.skipif(
    not on_postgres(), reason="SQLite has one writer at a time: no delivery can be committed during another's outcome"
)


class NextArrivesMidOutcome:
    """On the worker's engine: right after the first read of a recipient's next delivery, another message for
    the same recipient is committed (with no task), and its task's claim is tried as the worker would try it. If
    that claim would succeed, the task is queued as the bridge would have queued it; if not, the task gave up,
    and only the hand-over can get the delivery out."""

    def __init__(self, live: LiveBridge, conversation_sid: str) -> None:
        self.live = live
        self.conversation_sid = conversation_sid
        self.plain = Database(live.settings.database_url)  # no dispatcher: the test decides what is queued
        self.fired = False
        self.claim_gave_up: bool | None = None

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.fired or not statement.lstrip().startswith("SELECT min(deliveries.id)"):
            return
        self.fired = True
        with self.plain.transaction() as session:
            service = accounts.default_service(session)
            conversation = find_conversation(session, service, self.conversation_sid)
            message = append_message(session, conversation, NewMessage(author=AGENT, body="second"))
        with self.plain.transaction() as session:
            delivery_id = session.scalar(select(Delivery.id).where(Delivery.message_id == message.id))
        assert delivery_id is not None
        session = self.plain.sessions()
        try:  # the task's claim, undone: whether it would have got the delivery at this moment
            self.claim_gave_up = delivery.claim(session, delivery_id, 30) is None
        finally:
            session.rollback()
            session.close()
        if not self.claim_gave_up:
            enqueue([("deliver", delivery_id)])

    def close(self) -> None:
        self.plain.dispose()


@pytest.fixture
def agent_and_bob(client: Client, sender_pool: dict[str, str]) -> str:
    conversation = client.conversations.v1.conversations.create(friendly_name="line")
    conversation.participants.create(identity=AGENT)
    conversation.participants.create(messaging_binding_address=BOB, messaging_binding_proxy_address=sender_pool["sms"])
    return str(conversation.sid)


@pytest.fixture
def next_arrives_mid_outcome(live: LiveBridge, agent_and_bob: str) -> Iterator[NextArrivesMidOutcome]:
    from workers.context import context

    engine = context().database.engine
    hook = NextArrivesMidOutcome(live, agent_and_bob)
    event.listen(engine, "after_cursor_execute", hook)
    yield hook
    event.remove(engine, "after_cursor_execute", hook)
    hook.close()


def test_a_delivery_committed_while_the_previous_one_is_recorded_is_handed_on(
    client: Client,
    worker: FakeCarrier,
    agent_and_bob: str,
    next_arrives_mid_outcome: NextArrivesMidOutcome,
) -> None:
    client.conversations.v1.conversations(agent_and_bob).messages.create(author=AGENT, body="first")
    sends = worker.wait_for(2, timeout=15)
    assert next_arrives_mid_outcome.fired
    assert [s.body for s in sends] == ["first", "second"]

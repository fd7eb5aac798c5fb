"""Conversation timers: when they fire, an active conversation goes inactive and any goes closed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from twilio.rest import Client

from bridge.models import Conversation
from bridge.timers import expire_timers
from bridge.timeutil import utcnow
from tests.support.live import LiveBridge


def fire(live: LiveBridge, sid: str, *, inactive: bool = False, closed: bool = False) -> int:
    """Moves a timer's deadline into the past, as the passing of time would, then runs the timer sweep."""
    past = utcnow() - timedelta(seconds=1)
    values = {}
    if inactive:
        values["date_inactive"] = past
    if closed:
        values["date_closed"] = past
    with live.database.transaction() as session:
        session.execute(update(Conversation).where(Conversation.sid == sid).values(**values))
    with live.database.transaction() as session:
        return expire_timers(session)


def test_inactive_timer_then_closed_timer(client: Client, live: LiveBridge, sender_pool: dict[str, str]) -> None:
    conversation = client.conversations.v1.conversations.create(
        state="active", timers_inactive="PT5M", timers_closed="PT1H"
    )
    assert set(conversation.timers) == {"date_inactive", "date_closed"}
    conversation.participants.create(
        messaging_binding_address="+14155550160", messaging_binding_proxy_address=sender_pool["sms"]
    )
    untouched = client.conversations.v1.conversations.create(state="active", timers_inactive="PT5M")

    assert fire(live, conversation.sid, inactive=True) == 1
    assert client.conversations.v1.conversations(conversation.sid).fetch().state == "inactive"
    assert client.conversations.v1.conversations(untouched.sid).fetch().state == "active"

    assert fire(live, conversation.sid, closed=True) == 1
    closed = client.conversations.v1.conversations(conversation.sid).fetch()
    assert closed.state == "closed" and closed.timers == {}
    # Closing released the binding: the same pair can join another conversation.
    other = client.conversations.v1.conversations.create()
    other.participants.create(
        messaging_binding_address="+14155550160", messaging_binding_proxy_address=sender_pool["sms"]
    )


def test_a_new_message_restarts_the_inactive_timer(client: Client, live: LiveBridge) -> None:
    conversation = client.conversations.v1.conversations.create(state="active", timers_inactive="PT10M")
    first_deadline = conversation.timers["date_inactive"]
    fire(live, conversation.sid, inactive=True)
    asleep = client.conversations.v1.conversations(conversation.sid).fetch()
    assert asleep.state == "inactive" and "date_inactive" not in asleep.timers
    conversation.messages.create(body="wake up")
    awake = client.conversations.v1.conversations(conversation.sid).fetch()
    assert awake.state == "active"
    assert awake.timers["date_inactive"] >= first_deadline

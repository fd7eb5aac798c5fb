"""Conversation Messages and their (read-only) delivery Receipts through the official twilio client."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from twilio.rest import Client
from twilio.rest.conversations.v1.conversation.message import MessageList

from tests.integration.conftest import Api, open_whatsapp_window
from tests.integration.twilio_checks import (
    assert_error_body,
    assert_twilio_error,
    flatten,
    post_concurrently,
    walk_pages,
)
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

CUSTOMER = "+12015550123"


def messages_of(client: Client, conversation_sid: str) -> MessageList:
    return client.conversations.v1.conversations(conversation_sid).messages


def new_conversation(client: Client, **kwargs: str) -> str:
    return client.conversations.v1.conversations.create(**kwargs).sid


def test_create_and_fetch(client: Client, live: LiveBridge) -> None:
    conversation = new_conversation(client)
    created = messages_of(client, conversation).create(body="Hello", attributes='{"priority": "high"}')
    assert created.sid.startswith("IM") and len(created.sid) == 34
    assert created.account_sid == live.account_sid
    assert created.conversation_sid == conversation
    assert created.index == 0
    assert created.author == "system"
    assert created.participant_sid is None
    assert created.body == "Hello"
    assert json.loads(created.attributes) == {"priority": "high"}
    assert created.delivery is None
    assert created.url == f"{live.url}/v1/Conversations/{conversation}/Messages/{created.sid}"
    assert created.links["delivery_receipts"] == f"{created.url}/Receipts"
    assert isinstance(created.date_created, datetime)

    fetched = messages_of(client, conversation)(created.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.index, fetched.author) == (created.sid, "Hello", 0, "system")


def test_indexes_count_up_per_conversation(client: Client) -> None:
    first, second = new_conversation(client), new_conversation(client)
    indexes = [messages_of(client, first).create(body=f"m{i}").index for i in range(3)]
    assert indexes == [0, 1, 2]
    assert messages_of(client, second).create(body="other").index == 0
    assert messages_of(client, first).create(body="m3").index == 3


def test_a_deleted_index_is_never_reused(client: Client) -> None:
    conversation = new_conversation(client)
    messages = [messages_of(client, conversation).create(body=f"m{i}") for i in range(3)]
    messages_of(client, conversation)(messages[2].sid).delete()
    assert messages_of(client, conversation).create(body="after").index == 3
    assert [m.index for m in messages_of(client, conversation).list()] == [0, 1, 3]


@pytest.mark.usefixtures("worker")  # the customer is sent the messages: let those sends finish here
def test_author_links_the_participant(client: Client, sender_pool: dict[str, str]) -> None:
    conversation = new_conversation(client)
    alice = client.conversations.v1.conversations(conversation).participants.create(identity="alice")
    customer = client.conversations.v1.conversations(conversation).participants.create(
        messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"]
    )
    by_alice = messages_of(client, conversation).create(body="hi", author="alice")
    assert (by_alice.author, by_alice.participant_sid) == ("alice", alice.sid)
    by_customer = messages_of(client, conversation).create(body="yo", author=CUSTOMER)
    assert (by_customer.author, by_customer.participant_sid) == (CUSTOMER, customer.sid)
    # An author who is not a participant is kept as given, with no participant.
    by_stranger = messages_of(client, conversation).create(body="?", author="mallory")
    assert (by_stranger.author, by_stranger.participant_sid) == ("mallory", None)


def test_author_of_another_conversation_is_not_linked(client: Client) -> None:
    first, second = new_conversation(client), new_conversation(client)
    client.conversations.v1.conversations(first).participants.create(identity="alice")
    assert messages_of(client, second).create(body="hi", author="alice").participant_sid is None


def test_message_needs_content(client: Client) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(lambda: messages_of(client, conversation).create(author="alice"), 20001, 400)
    assert_twilio_error(lambda: messages_of(client, conversation).create(body=""), 20001, 400)
    assert messages_of(client, conversation).list() == []


def test_invalid_attributes_are_refused(client: Client) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(lambda: messages_of(client, conversation).create(body="x", attributes="{bad"), 50304, 400)
    message = messages_of(client, conversation).create(body="x", attributes='{"a": 1}')
    assert_twilio_error(lambda: messages_of(client, conversation)(message.sid).update(attributes="[1,"), 50304, 400)
    assert json.loads(messages_of(client, conversation)(message.sid).fetch().attributes) == {"a": 1}
    # The failed create did not use up an index.
    assert message.index == 0


def test_message_attributes_over_4kb_are_refused(client: Client) -> None:
    conversation = new_conversation(client)
    too_big = json.dumps({"blob": "x" * 4096})
    assert_twilio_error(lambda: messages_of(client, conversation).create(body="x", attributes=too_big), 50304, 400)


def test_edit(client: Client) -> None:
    conversation = new_conversation(client)
    alice = client.conversations.v1.conversations(conversation).participants.create(identity="alice")
    message = messages_of(client, conversation).create(body="draft", author="alice")
    backfill = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    edited = messages_of(client, conversation)(message.sid).update(
        body="final", attributes='{"edited": true}', date_created=backfill
    )
    assert (edited.sid, edited.index, edited.body) == (message.sid, 0, "final")
    assert json.loads(edited.attributes) == {"edited": True}
    assert edited.date_created == backfill
    assert (edited.author, edited.participant_sid) == ("alice", alice.sid)
    assert messages_of(client, conversation)(message.sid).fetch().body == "final"


def test_edit_author(client: Client) -> None:
    conversation = new_conversation(client)
    bob = client.conversations.v1.conversations(conversation).participants.create(identity="bob")
    message = messages_of(client, conversation).create(body="hi")
    edited = messages_of(client, conversation)(message.sid).update(author="bob")
    assert (edited.author, edited.participant_sid) == ("bob", bob.sid)
    back = messages_of(client, conversation)(message.sid).update(author="")
    assert (back.author, back.participant_sid) == ("system", None)


def test_delete(client: Client) -> None:
    conversation = new_conversation(client)
    keep = messages_of(client, conversation).create(body="keep")
    gone = messages_of(client, conversation).create(body="gone")
    assert messages_of(client, conversation)(gone.sid).delete() is True
    assert_twilio_error(lambda: messages_of(client, conversation)(gone.sid).fetch(), 20404, 404)
    assert_twilio_error(lambda: messages_of(client, conversation)(gone.sid).update(body="x"), 20404, 404)
    assert_twilio_error(lambda: messages_of(client, conversation)(gone.sid).delete(), 20404, 404)
    assert [m.sid for m in messages_of(client, conversation).list()] == [keep.sid]


def test_message_of_another_conversation_is_404(client: Client) -> None:
    first, second = new_conversation(client), new_conversation(client)
    message = messages_of(client, first).create(body="x")
    assert_twilio_error(lambda: messages_of(client, second)(message.sid).fetch(), 20404, 404)
    assert_twilio_error(lambda: messages_of(client, second)(message.sid).delete(), 20404, 404)
    assert_twilio_error(lambda: messages_of(client, second)("IM" + "0" * 32).fetch(), 20404, 404)


def test_list_pages_in_both_orders(client: Client, api: Api) -> None:
    conversation = new_conversation(client, unique_name="chatty")
    sids = [messages_of(client, conversation).create(body=f"m{i}").sid for i in range(5)]
    assert [m.sid for m in messages_of(client, "chatty").list(page_size=2)] == sids
    assert [m.sid for m in messages_of(client, "chatty").stream(page_size=2)] == sids
    assert [m.sid for m in messages_of(client, "chatty").list(order="desc", page_size=2)] == sids[::-1]
    assert [m.index for m in messages_of(client, "chatty").list(order="desc", limit=2)] == [4, 3]
    assert flatten(walk_pages(api, f"/v1/Conversations/{conversation}/Messages", "messages")) == sids
    assert flatten(walk_pages(api, f"/v1/Conversations/{conversation}/Messages?Order=desc", "messages")) == sids[::-1]
    assert_error_body(api.get(f"/v1/Conversations/{conversation}/Messages?Order=sideways"), 20001, 400)


def test_message_in_a_closed_conversation_is_refused(client: Client) -> None:
    conversation = new_conversation(client)
    message = messages_of(client, conversation).create(body="before")
    client.conversations.v1.conversations(conversation).update(state="closed")
    assert_twilio_error(lambda: messages_of(client, conversation).create(body="after"), 50377, 400)
    assert [m.sid for m in messages_of(client, conversation).list()] == [message.sid]


def test_a_message_wakes_an_inactive_conversation(client: Client) -> None:
    conversation = new_conversation(client, state="inactive")
    messages_of(client, conversation).create(body="wake up")
    assert client.conversations.v1.conversations(conversation).fetch().state == "active"


def test_delivery_is_null_without_non_chat_recipients(client: Client) -> None:
    conversation = new_conversation(client)
    client.conversations.v1.conversations(conversation).participants.create(identity="alice")
    client.conversations.v1.conversations(conversation).participants.create(identity="bob")
    message = messages_of(client, conversation).create(body="chat only", author="alice")
    assert message.delivery is None
    assert messages_of(client, conversation)(message.sid).fetch().delivery is None
    assert messages_of(client, conversation).list()[0].delivery is None


def test_delivery_counts_non_chat_recipients_but_not_the_author(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    conversation = new_conversation(client)
    participants = client.conversations.v1.conversations(conversation).participants
    participants.create(identity="agent")
    participants.create(messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"])
    on_whatsapp = participants.create(
        messaging_binding_address=f"whatsapp:{CUSTOMER}", messaging_binding_proxy_address=sender_pool["whatsapp"]
    )
    open_whatsapp_window(live, on_whatsapp.sid)
    to_both = messages_of(client, conversation).create(body="to everyone", author="agent")
    # The statuses move as the worker sends; the recipients are fixed when the message is written.
    assert to_both.delivery["total"] == 2
    from_customer = messages_of(client, conversation).create(body="reply", author=CUSTOMER)
    assert from_customer.delivery["total"] == 1
    assert sorted(s.to_address for s in worker.wait_for(3)) == [
        CUSTOMER,
        f"whatsapp:{CUSTOMER}",
        f"whatsapp:{CUSTOMER}",
    ]


def test_a_late_joiner_receives_only_later_messages(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier
) -> None:
    conversation = new_conversation(client)
    early = messages_of(client, conversation).create(body="before the customer joined")
    client.conversations.v1.conversations(conversation).participants.create(
        messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"]
    )
    late = messages_of(client, conversation).create(body="after")
    assert messages_of(client, conversation)(early.sid).fetch().delivery is None
    assert late.delivery is not None and late.delivery["total"] == 1
    assert [s.body for s in worker.wait_for(1)] == ["after"]


def test_receipts_list_page_and_fetch_once_delivered(
    client: Client, api: Api, sender_pool: dict[str, str], worker: FakeCarrier
) -> None:
    conversation = new_conversation(client)
    participants = client.conversations.v1.conversations(conversation).participants
    participants.create(identity="agent")
    recipients = [
        participants.create(
            messaging_binding_address=f"+1201555013{i}", messaging_binding_proxy_address=sender_pool["sms"]
        ).sid
        for i in range(5)
    ]
    message = messages_of(client, conversation).create(body="to five", author="agent")
    handle = messages_of(client, conversation)(message.sid)
    worker.wait_for(5)
    eventually(lambda: handle.fetch().delivery["delivered"] == "all", message="receipts never reached delivered")
    assert handle.fetch().delivery == {
        "total": 5, "sent": "all", "delivered": "all", "read": "none", "failed": "none", "undelivered": "none"
    }  # fmt: skip

    receipts = handle.delivery_receipts.list(page_size=2)
    assert sorted(r.participant_sid for r in receipts) == sorted(recipients)
    assert all(r.sid.startswith("DY") and r.message_sid == message.sid for r in receipts)
    assert all((r.status, r.error_code) == ("delivered", 0) and r.channel_message_sid for r in receipts)
    pages = walk_pages(api, f"/v1/Conversations/{conversation}/Messages/{message.sid}/Receipts", "delivery_receipts")
    assert flatten(pages) == [r.sid for r in receipts]

    fetched = handle.delivery_receipts(receipts[0].sid).fetch()
    assert (fetched.sid, fetched.participant_sid, fetched.status) == (
        receipts[0].sid,
        receipts[0].participant_sid,
        "delivered",
    )
    assert fetched.url == f"{handle.fetch().url}/Receipts/{fetched.sid}"
    # A receipt belongs to its message: not found under another one.
    other = messages_of(client, conversation).create(body="another")
    assert_twilio_error(
        lambda: messages_of(client, conversation)(other.sid).delivery_receipts(fetched.sid).fetch(), 20404, 404
    )


def test_receipts_are_read_only_and_empty_for_a_new_message(client: Client, api: Api) -> None:
    conversation = new_conversation(client)
    message = messages_of(client, conversation).create(body="x")
    receipts = messages_of(client, conversation)(message.sid).delivery_receipts
    assert receipts.list() == []
    assert receipts.list(page_size=2) == []
    assert_twilio_error(lambda: receipts("DY" + "0" * 32).fetch(), 20404, 404)
    body = api.get(f"/v1/Conversations/{conversation}/Messages/{message.sid}/Receipts").json()
    assert body["delivery_receipts"] == [] and body["meta"]["key"] == "delivery_receipts"
    assert api.post(f"/v1/Conversations/{conversation}/Messages/{message.sid}/Receipts", {}).status_code == 405
    # Receipts of a message that does not exist are not found either.
    assert api.get(f"/v1/Conversations/{conversation}/Messages/IM{'0' * 32}/Receipts").status_code == 404


def test_service_scoped_messages(client: Client, api: Api, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")
    scoped = client.conversations.v1.services(service.sid).conversations
    conversation = scoped.create(unique_name="room").sid
    created = scoped("room").messages.create(body="hello")
    assert created.url == f"{live.url}/v1/Services/{service.sid}/Conversations/{conversation}/Messages/{created.sid}"
    raw = api.get(f"/v1/Services/{service.sid}/Conversations/{conversation}/Messages/{created.sid}").json()
    assert raw["chat_service_sid"] == service.sid
    sids = [created.sid] + [scoped("room").messages.create(body=f"m{i}").sid for i in range(4)]
    assert [m.sid for m in scoped("room").messages.list(page_size=2)] == sids
    pages = walk_pages(api, f"/v1/Services/{service.sid}/Conversations/{conversation}/Messages", "messages")
    assert flatten(pages) == sids
    assert scoped("room").messages(created.sid).update(body="edited").body == "edited"
    assert scoped("room").messages(created.sid).delete() is True
    assert_twilio_error(lambda: scoped("room").messages(created.sid).fetch(), 20404, 404)
    assert scoped("room").messages(sids[1]).delivery_receipts.list() == []


def test_message_addressed_by_index(client: Client, api: Api) -> None:
    conversation = new_conversation(client)
    messages = [messages_of(client, conversation).create(body=f"m{i}") for i in range(2)]
    assert api.get(f"/v1/Conversations/{conversation}/Messages/1").json()["sid"] == messages[1].sid
    for odd in ("2", "%C2%B2", "99999999999999999999999", "-1", "1.0"):
        assert_error_body(api.get(f"/v1/Conversations/{conversation}/Messages/{odd}"), 20404, 404)


def test_concurrent_messages_get_distinct_consecutive_indexes(client: Client, api: Api) -> None:
    conversation = new_conversation(client)
    responses = post_concurrently(
        api, [(f"/v1/Conversations/{conversation}/Messages", {"Body": f"m{i}"}) for i in range(8)]
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["index"] for r in responses) == list(range(8))
    assert [m.index for m in messages_of(client, conversation).list()] == list(range(8))

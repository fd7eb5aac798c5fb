"""Each recipient gets a message in the form its channel needs, and the carriers' rules are kept at send time:
SMS encoding and splitting, MMS or links, WhatsApp's 24-hour window and templates, opt-out keywords, media."""

from __future__ import annotations

import time

import pytest
import requests
import smsutil
from sqlalchemy import select
from twilio.rest import Client

from bridge import sms
from bridge.models import Delivery, Media, OptOut
from tests.integration.conftest import Api, open_whatsapp_window
from tests.support.fake_carrier import Failure, FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

US_CUSTOMER, US_OTHER, UK_CUSTOMER = "+14155550121", "+14155550122", "+447700900123"
WA_CUSTOMER = "whatsapp:+14155550124"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048


def deliveries(live: LiveBridge) -> list[Delivery]:
    with live.database.transaction() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def settled(live: LiveBridge, count: int) -> list[Delivery]:
    """Waits until `count` deliveries exist and none is still pending or sending."""

    def done() -> list[Delivery]:
        rows = deliveries(live)
        return rows if len(rows) >= count and all(r.status not in ("pending", "sending") for r in rows) else []

    return eventually(done, timeout=30)


def conversation_with(client: Client, sender_pool: dict[str, str], *addresses: str) -> str:
    conversation = client.conversations.v1.conversations.create()
    for address in addresses:
        proxy = sender_pool["whatsapp"] if address.startswith("whatsapp:") else sender_pool["sms"]
        conversation.participants.create(messaging_binding_address=address, messaging_binding_proxy_address=proxy)
    return conversation.sid


def upload(api: Api, client: Client, data: bytes, content_type: str) -> str:
    service = client.conversations.v1.configuration().fetch().default_chat_service_sid
    response = api.post(f"/v1/Services/{service}/Media", data=data, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


# -- SMS text ------------------------------------------------------------------------------------------------


def test_a_2000_character_body_goes_out_as_two_sends_in_order(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    words = " ".join(f"word{n}" for n in range(400))[:2000]
    sid = conversation_with(client, sender_pool, US_CUSTOMER)
    client.conversations.v1.conversations(sid).messages.create(body=words)
    sends = worker.wait_for(2)
    assert [len(s.body or "") <= 1600 for s in sends] == [True, True]
    assert "".join(s.body or "" for s in sends) == words, "the parts, in order, are the whole text"
    assert sends[0].body and not sends[0].body.endswith("word"), "split at a word boundary"
    (row,) = eventually(lambda: [r for r in deliveries(live) if r.status == "delivered"])
    assert (row.sends, row.sends_done, row.encoding) == (2, 2, "GSM-7")
    # Segment count, checked against an independent implementation.
    assert row.segments == sum(_segments(s.body or "") for s in sends)


def _segments(text: str) -> int:
    """Segments as smsutil counts them (independent of bridge.sms)."""
    return len(smsutil.split(text).parts)


def test_an_emoji_body_is_ucs2_with_the_right_segment_count(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    body = "Party time " + "🎉" * 40  # 11 + 80 UTF-16 units: UCS-2, two parts of at most 67 units
    sid = conversation_with(client, sender_pool, US_CUSTOMER)
    client.conversations.v1.conversations(sid).messages.create(body=body)
    (send,) = worker.wait_for(1)
    assert send.body == body
    (row,) = settled(live, 1)
    assert row.encoding == "UCS-2"
    assert row.segments == _segments(body) == 2


def test_smart_encoding_replaces_look_alikes_when_the_pool_asks_for_it(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    pool = client.conversations.v1.configuration().fetch().default_messaging_service_sid
    client.messaging.v1.services(pool).update(smart_encoding=True)
    sid = conversation_with(client, sender_pool, US_CUSTOMER)
    client.conversations.v1.conversations(sid).messages.create(body="“Quoted” — and it’s done…")  # noqa: RUF001
    (send,) = worker.wait_for(1)
    assert send.body == '"Quoted" - and it\'s done...'
    (row,) = settled(live, 1)
    assert row.encoding == "GSM-7" and row.segments == 1


# -- media --------------------------------------------------------------------------------------------------


def test_mms_to_a_us_number_carries_the_bridges_url_and_a_uk_number_gets_a_link(
    client: Client, api: Api, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    media_sid = upload(api, client, PNG, "image/png")
    sid = conversation_with(client, sender_pool, US_CUSTOMER, UK_CUSTOMER)
    client.conversations.v1.conversations(sid).messages.create(body="the picture", media_sid=media_sid)
    worker.wait_for(2)
    (to_us,) = worker.sent_to(US_CUSTOMER)
    (to_uk,) = worker.sent_to(UK_CUSTOMER)
    assert to_us.body == "the picture"
    assert len(to_us.media_urls) == 1 and to_us.media_urls[0].startswith(f"{live.url}/media/{media_sid}/")
    assert requests.get(to_us.media_urls[0], timeout=10).content == PNG  # what the carrier fetches
    assert to_uk.media_urls == []
    assert to_uk.body is not None and to_uk.body.startswith("the picture\n")
    link = to_uk.body.splitlines()[-1]
    assert link == to_us.media_urls[0] and requests.get(link, timeout=10).content == PNG


def test_inbound_mms_media_is_fetched_once_stored_and_relayed_from_the_bridge(
    client: Client, api: Api, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    sid = conversation_with(client, sender_pool, US_CUSTOMER, US_OTHER, UK_CUSTOMER)
    carrier_url = worker.add_media(PNG, "image/png")
    params = worker.inbound_params(US_CUSTOMER, sender_pool["sms"], "look", media=[(carrier_url, "image/png")])
    assert worker.post_inbound(live.url, params).status_code == 200
    assert worker.post_inbound(live.url, params).status_code == 200  # the carrier retrying changes nothing
    worker.wait_for(2)
    (to_us,) = worker.sent_to(US_OTHER)
    (to_uk,) = worker.sent_to(UK_CUSTOMER)
    assert to_us.media_urls and to_us.media_urls[0].startswith(f"{live.url}/media/ME")
    assert carrier_url not in (to_uk.body or "") and all(carrier_url != u for u in to_us.media_urls)
    assert requests.get(to_us.media_urls[0], timeout=10).content == PNG
    assert sum(worker.media_fetches.values()) == 1, "downloaded once, with the carrier's credentials"

    message = client.conversations.v1.conversations(sid).messages.list()[0]
    (item,) = message.media
    assert (item["content_type"], item["size"]) == ("image/png", len(PNG))
    service = client.conversations.v1.configuration().fetch().default_chat_service_sid
    content = api.get(f"/v1/Services/{service}/Media/{item['sid']}/Content")
    assert content.status_code == 200 and content.content == PNG


def test_inbound_media_the_carrier_refuses_is_given_up_and_the_text_still_goes(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    conversation_with(client, sender_pool, US_CUSTOMER, US_OTHER)
    missing = worker.url + f"/2010-04-01/Accounts/{worker.account_sid}/Messages/MMx/Media/MEgone"
    params = worker.inbound_params(US_CUSTOMER, sender_pool["sms"], "with a lost file", media=[(missing, "image/png")])
    worker.post_inbound(live.url, params)
    (send,) = worker.wait_for(1)
    assert send.body == "with a lost file" and send.media_urls == []
    with live.database.transaction() as session:
        (media,) = session.scalars(select(Media)).all()
    assert media.status == "failed"


# -- WhatsApp ----------------------------------------------------------------------------------------------------


def test_whatsapp_outside_the_window_sends_templates_and_refuses_free_text(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    sid = conversation_with(client, sender_pool, WA_CUSTOMER)
    (participant,) = client.conversations.v1.conversations(sid).participants.list()
    open_whatsapp_window(live, participant.sid, hours_ago=25)
    messages = client.conversations.v1.conversations(sid).messages
    template = "HX" + "ab" * 16
    messages.create(content_sid=template, content_variables='{"1": "Ada"}')
    messages.create(body="free text, too late")
    (send,) = worker.wait_for(1)
    assert (send.content_sid, send.content_variables, send.body) == (template, '{"1": "Ada"}', None)
    eventually(lambda: [(r.status, r.error_code) for r in deliveries(live)] == [("delivered", 0), ("failed", 63016)])
    time.sleep(0.3)
    assert len(worker.snapshot()) == 1, "a 63016 failure never reaches the carrier"

    # The person writes: the window opens and free text flows.
    worker.post_inbound(live.url, worker.inbound_params(WA_CUSTOMER, sender_pool["whatsapp"], "hello?"))
    messages.create(body="now it's fine")
    assert [s.body for s in worker.wait_for(2)][-1] == "now it's fine"


def test_whatsapp_gets_one_media_per_send(
    client: Client, api: Api, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    sid = conversation_with(client, sender_pool, WA_CUSTOMER)
    open_whatsapp_window(live, client.conversations.v1.conversations(sid).participants.list()[0].sid)
    first, second = upload(api, client, PNG, "image/png"), upload(api, client, PNG + b"2", "image/png")
    api.post(
        f"/v1/Conversations/{sid}/Messages", data=[("Body", "two pictures"), ("MediaSid", first), ("MediaSid", second)]
    )
    sends = worker.wait_for(2)
    assert [(s.body, len(s.media_urls)) for s in sends] == [("two pictures", 1), (None, 1)]
    assert sends[0].media_urls[0].split("/media/")[1].startswith(first)
    assert sends[1].media_urls[0].split("/media/")[1].startswith(second)


# -- opt-out ------------------------------------------------------------------------------------------------------


def test_stop_blocks_the_pair_without_a_carrier_call_and_start_lifts_it(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    sid = conversation_with(client, sender_pool, US_CUSTOMER, US_OTHER)
    worker.post_inbound(live.url, worker.inbound_params(US_CUSTOMER, sender_pool["sms"], "  stop "))
    worker.wait_for(1)  # the keyword itself reaches the other participant (the service default)
    messages = client.conversations.v1.conversations(sid).messages
    messages.create(body="are you there?")
    rows = settled(live, 3)
    blocked = [r for r in rows if r.error_code == 21610]
    assert len(blocked) == 1 and blocked[0].status == "failed"
    time.sleep(0.3)
    assert worker.sent_to(US_CUSTOMER) == [], "nothing reaches an opted-out pair"

    worker.post_inbound(live.url, worker.inbound_params(US_CUSTOMER, sender_pool["sms"], "START"))
    messages.create(body="welcome back")
    eventually(lambda: [s.body for s in worker.sent_to(US_CUSTOMER)] == ["welcome back"])


@pytest.mark.parametrize("body", ["stop please", "Please STOP", "STOP!", "STOPP"])
def test_words_inside_a_sentence_do_not_opt_out(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, body: str
) -> None:
    conversation_with(client, sender_pool, US_CUSTOMER, US_OTHER)
    worker.post_inbound(live.url, worker.inbound_params(US_CUSTOMER, sender_pool["sms"], body))
    worker.wait_for(1)
    with live.database.transaction() as session:
        assert session.scalars(select(OptOut)).all() == []


def test_a_carriers_21610_records_the_opt_out(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    sid = conversation_with(client, sender_pool, US_CUSTOMER)
    worker.failures_by_number[US_CUSTOMER] = Failure(400, 21610, "Attempt to send to unsubscribed recipient")
    messages = client.conversations.v1.conversations(sid).messages
    messages.create(body="first")
    settled(live, 1)
    worker.failures_by_number.clear()
    messages.create(body="second")
    rows = settled(live, 2)
    assert [(r.status, r.error_code, r.attempts) for r in rows] == [("failed", 21610, 1), ("failed", 21610, 1)]
    assert len(worker.rejected) == 1, "the second never reached the carrier"


def test_help_gets_the_pools_help_text_when_it_has_one(
    client: Client, api: Api, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    sid = conversation_with(client, sender_pool, US_CUSTOMER, US_OTHER)
    worker.post_inbound(live.url, worker.inbound_params(US_CUSTOMER, sender_pool["sms"], "HELP"))
    worker.wait_for(1)
    time.sleep(0.3)
    assert worker.sent_to(US_CUSTOMER) == [], "no help text configured: the carrier answers HELP"

    pool = client.conversations.v1.configuration().fetch().default_messaging_service_sid
    help_text = "Acme support. Reply STOP to opt out. Msg&data rates may apply."
    assert api.post(f"/messaging/v1/Services/{pool}", data={"HelpText": help_text}).ok
    worker.post_inbound(live.url, worker.inbound_params(US_CUSTOMER, sender_pool["sms"], "info"))
    eventually(lambda: [s.body for s in worker.sent_to(US_CUSTOMER)] == [help_text])
    assert len(client.conversations.v1.conversations(sid).messages.list()) == 2


def test_keywords_can_be_kept_out_of_conversations(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    service = client.conversations.v1.configuration().fetch().default_chat_service_sid
    requests.post(
        f"{live.url}/v1/Services/{service}/Configuration",
        data={"KeywordMessagesVisible": "false"},
        auth=(live.account_sid, live.auth_token),
        timeout=10,
    ).raise_for_status()
    sid = conversation_with(client, sender_pool, US_CUSTOMER, US_OTHER)
    worker.post_inbound(live.url, worker.inbound_params(US_CUSTOMER, sender_pool["sms"], "STOP"))
    with live.database.transaction() as session:
        assert len(session.scalars(select(OptOut)).all()) == 1
    assert client.conversations.v1.conversations(sid).messages.list() == []
    time.sleep(0.3)
    assert worker.snapshot() == []


# -- attribution ------------------------------------------------------------------------------------------------


def test_attribution_names_the_author_in_groups_only(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge
) -> None:
    service = client.conversations.v1.configuration().fetch().default_chat_service_sid
    requests.post(
        f"{live.url}/v1/Services/{service}/Configuration",
        data={"AttributionEnabled": "true"},
        auth=(live.account_sid, live.auth_token),
        timeout=10,
    ).raise_for_status()
    client.conversations.v1.users.create(identity="alice", friendly_name="Alice")
    group = conversation_with(client, sender_pool, US_CUSTOMER, US_OTHER)
    client.conversations.v1.conversations(group).participants.create(identity="alice")
    client.conversations.v1.conversations(group).messages.create(author="alice", body="hello group")
    pair = client.conversations.v1.conversations.create()
    pair.participants.create(messaging_binding_address=UK_CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"])
    pair.participants.create(identity="alice")
    pair.messages.create(author="alice", body="just us")
    worker.wait_for(3)
    assert sorted(s.body or "" for s in worker.snapshot()) == ["Alice: hello group", "Alice: hello group", "just us"]

    # A conversation can turn it off for itself.
    client.conversations.v1.conversations(group).update(attributes='{"bridge": {"attribution": false}}')
    client.conversations.v1.conversations(group).messages.create(author="alice", body="plain again")
    eventually(lambda: [s.body for s in worker.sent_to(US_OTHER)][-1:] == ["plain again"])


def test_segments_helper_matches_the_bridge_for_plain_text() -> None:
    """The independent counter agrees with bridge.sms on the texts these tests use (guards the oracle)."""
    for text in ("hello", "x" * 161, "🎉" * 40, "€" * 81):
        assert _segments(text) == sms.segment_count(text)


def test_a_failure_halfway_through_a_long_text_resends_only_the_rest(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, sweeper: None
) -> None:
    """Part 1 is accepted (and its callbacks say delivered), part 2 meets a carrier outage: the retry sends
    part 2 alone, and the delivery is only finished by part 2's own status."""
    calls: list[str] = []

    def second_call_fails(params: dict[str, object]) -> Failure | None:
        calls.append(str(params.get("Body", ""))[:10])
        return Failure(503, 20500, "Service unavailable") if len(calls) == 2 else None

    worker.policy = second_call_fails
    text = " ".join(f"part{n}" for n in range(500))[:3000]
    sid = conversation_with(client, sender_pool, US_CUSTOMER)
    client.conversations.v1.conversations(sid).messages.create(body=text)
    sends = worker.wait_for(2, timeout=30)
    assert "".join(s.body or "" for s in sends) == text, "each part once, in order"
    (row,) = eventually(lambda: [r for r in deliveries(live) if r.status == "delivered"])
    assert (row.sends, row.sends_done, row.attempts) == (2, 2, 2)
    time.sleep(0.3)
    assert len(worker.snapshot()) == 2

"""Conversations and ConversationWithParticipants through the official twilio client."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from twilio.rest import Client
from twilio.rest.conversations.v1.conversation import ConversationList

from tests.integration.conftest import Api
from tests.integration.twilio_checks import (
    assert_error_body,
    assert_twilio_error,
    flatten,
    post_concurrently,
    walk_pages,
)
from tests.support.live import LiveBridge

CH_LIKE_NAME = "CH" + "0" * 32


def default_sids(client: Client) -> tuple[str, str]:
    configuration = client.conversations.v1.configuration().fetch()
    return configuration.default_chat_service_sid, configuration.default_messaging_service_sid


def test_create_returns_every_field_and_fetch_by_sid_and_unique_name_agree(client: Client, live: LiveBridge) -> None:
    service_sid, messaging_sid = default_sids(client)
    created = client.conversations.v1.conversations.create(
        friendly_name="Billing", unique_name="billing-42", attributes=json.dumps({"topic": "billing"})
    )
    assert created.sid.startswith("CH") and len(created.sid) == 34
    assert created.account_sid == live.account_sid
    assert created.chat_service_sid == service_sid
    assert created.messaging_service_sid == messaging_sid
    assert (created.friendly_name, created.unique_name) == ("Billing", "billing-42")
    assert json.loads(created.attributes) == {"topic": "billing"}
    assert created.state == "active"
    assert created.timers == {}
    assert created.url == f"{live.url}/v1/Conversations/{created.sid}"
    assert created.links["participants"] == f"{created.url}/Participants"
    assert created.links["messages"] == f"{created.url}/Messages"
    assert isinstance(created.date_created, datetime)
    assert abs(created.date_created - datetime.now(UTC)) < timedelta(minutes=1)

    by_sid = client.conversations.v1.conversations(created.sid).fetch()
    by_name = client.conversations.v1.conversations("billing-42").fetch()
    assert by_sid.sid == by_name.sid == created.sid
    assert by_name.friendly_name == "Billing"


def test_attributes_default_to_empty_json_object(client: Client) -> None:
    conversation = client.conversations.v1.conversations.create()
    assert conversation.attributes == "{}"
    assert conversation.friendly_name is None and conversation.unique_name is None


def test_backfilled_dates_are_kept(client: Client) -> None:
    created_at = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    conversation = client.conversations.v1.conversations.create(date_created=created_at)
    assert conversation.date_created == created_at
    assert conversation.date_updated == created_at


def test_update_changes_fields_and_is_addressable_by_unique_name(client: Client) -> None:
    conversation = client.conversations.v1.conversations.create(unique_name="old-name")
    updated = client.conversations.v1.conversations("old-name").update(
        friendly_name="Renamed", unique_name="new-name", attributes='{"vip": true}'
    )
    assert (updated.sid, updated.friendly_name, updated.unique_name) == (
        conversation.sid,
        "Renamed",
        "new-name",
    )
    assert json.loads(updated.attributes) == {"vip": True}
    assert updated.date_updated >= conversation.date_updated
    fetched = client.conversations.v1.conversations("new-name").fetch()
    assert fetched.friendly_name == "Renamed"
    assert_twilio_error(lambda: client.conversations.v1.conversations("old-name").fetch(), 20404, 404)


def test_update_without_unique_name_keeps_it(client: Client) -> None:
    client.conversations.v1.conversations.create(unique_name="keep-me", friendly_name="A")
    updated = client.conversations.v1.conversations("keep-me").update(friendly_name="B")
    assert (updated.unique_name, updated.friendly_name) == ("keep-me", "B")


def test_delete_removes_the_conversation(client: Client, api: Api) -> None:
    conversation = client.conversations.v1.conversations.create(unique_name="doomed")
    assert client.conversations.v1.conversations("doomed").delete() is True
    assert_twilio_error(lambda: client.conversations.v1.conversations(conversation.sid).fetch(), 20404, 404)
    assert_twilio_error(lambda: client.conversations.v1.conversations(conversation.sid).delete(), 20404, 404)
    assert_twilio_error(
        lambda: client.conversations.v1.conversations(conversation.sid).update(friendly_name="x"), 20404, 404
    )
    assert api.get(f"/v1/Conversations/{conversation.sid}").status_code == 404
    assert client.conversations.v1.conversations.list() == []


def test_delete_cascades_to_participants_and_messages(client: Client, api: Api) -> None:
    conversation = client.conversations.v1.conversations.create()
    client.conversations.v1.conversations(conversation.sid).participants.create(identity="alice")
    client.conversations.v1.conversations(conversation.sid).messages.create(body="hi", author="alice")
    client.conversations.v1.conversations(conversation.sid).delete()
    assert api.get(f"/v1/Conversations/{conversation.sid}/Participants").status_code == 404
    assert api.get(f"/v1/Conversations/{conversation.sid}/Messages").status_code == 404
    assert client.conversations.v1.participant_conversations.list(identity="alice") == []


def test_list_pages_forward_and_back(client: Client, api: Api) -> None:
    sids = [client.conversations.v1.conversations.create(friendly_name=f"c{i}").sid for i in range(5)]
    assert [c.sid for c in client.conversations.v1.conversations.list(page_size=2)] == sids
    assert [c.sid for c in client.conversations.v1.conversations.stream(page_size=2)] == sids
    assert [c.sid for c in client.conversations.v1.conversations.list(page_size=2, limit=3)] == sids[:3]
    pages = walk_pages(api, "/v1/Conversations", "conversations")
    assert pages == [sids[0:2], sids[2:4], sids[4:5]]


def test_list_of_an_empty_service_is_one_empty_page(api: Api) -> None:
    body = api.get("/v1/Conversations?PageSize=2").json()
    assert body["conversations"] == []
    assert body["meta"]["next_page_url"] is None and body["meta"]["previous_page_url"] is None


@pytest.mark.parametrize("page_size", ["0", "101", "ten"])
def test_list_rejects_a_bad_page_size(api: Api, page_size: str) -> None:
    assert_error_body(api.get(f"/v1/Conversations?PageSize={page_size}"), 20001, 400)


def test_list_rejects_a_forged_page_token(api: Api) -> None:
    assert_error_body(api.get("/v1/Conversations?PageSize=2&PageToken=garbage"), 20001, 400)


def test_state_filter(client: Client, api: Api) -> None:
    conversations = client.conversations.v1.conversations
    active = conversations.create(unique_name="a").sid
    inactive = conversations.create(unique_name="i", state="inactive").sid
    closed = conversations.create(unique_name="c").sid
    conversations(closed).update(state="closed")
    for _ in range(2):
        conversations.create(state="inactive")

    assert [c.sid for c in conversations.list(state="active")] == [active]
    assert [c.sid for c in conversations.list(state="closed")] == [closed]
    inactive_sids = [c.sid for c in conversations.list(state="inactive", page_size=2)]
    assert len(inactive_sids) == 3 and inactive_sids[0] == inactive
    # The filter is carried along on the page links.
    pages = walk_pages(api, "/v1/Conversations?State=inactive", "conversations")
    assert flatten(pages) == inactive_sids
    assert_error_body(api.get("/v1/Conversations?State=sleeping"), 20001, 400)


def test_date_filters_select_whole_days_and_sort_newest_first(client: Client, api: Api) -> None:
    conversations = client.conversations.v1.conversations

    def on(day: int, hour: int = 12) -> str:
        return conversations.create(
            friendly_name=f"day {day}", date_created=datetime(2024, 1, day, hour, tzinfo=UTC)
        ).sid

    # Created out of date order on purpose: the order must follow date_created, not insertion.
    jan3, jan1, jan2_late, jan2_early, jan4 = on(3), on(1), on(2, 23), on(2, 0), on(4)
    today = conversations.create().sid

    window = conversations.list(start_date="2024-01-02", end_date="2024-01-03", page_size=2)
    assert [c.sid for c in window] == [jan3, jan2_late, jan2_early]
    assert [c.sid for c in conversations.list(start_date="2024-01-03")] == [today, jan4, jan3]
    assert [c.sid for c in conversations.list(end_date="2024-01-01")] == [jan1]
    # The bounds twilio's docs suggest, with times: still whole days.
    bounded = conversations.list(start_date="2024-01-02T00:00:00Z", end_date="2024-01-03T23:59:59Z")
    assert [c.sid for c in bounded] == [jan3, jan2_late, jan2_early]
    pages = walk_pages(api, "/v1/Conversations?StartDate=2024-01-01&EndDate=2024-01-04", "conversations")
    assert flatten(pages) == [jan4, jan3, jan2_late, jan2_early, jan1]
    assert_error_body(api.get("/v1/Conversations?StartDate=yesterday"), 20001, 400)


def test_inactive_conversation_can_be_reactivated(client: Client) -> None:
    conversation = client.conversations.v1.conversations.create(state="inactive")
    assert conversation.state == "inactive"
    assert client.conversations.v1.conversations(conversation.sid).update(state="active").state == "active"
    assert client.conversations.v1.conversations(conversation.sid).update(state="inactive").state == "inactive"


def test_closed_is_final(client: Client) -> None:
    conversation = client.conversations.v1.conversations.create(unique_name="final")
    closed = client.conversations.v1.conversations("final").update(state="closed")
    assert closed.state == "closed"
    for change in ({"state": "active"}, {"friendly_name": "again"}, {"state": "closed"}):
        assert_twilio_error(lambda c=change: client.conversations.v1.conversations("final").update(**c), 50377, 400)
    fetched = client.conversations.v1.conversations(conversation.sid).fetch()
    assert (fetched.state, fetched.friendly_name) == ("closed", None)
    # Closed conversations can still be deleted.
    assert client.conversations.v1.conversations(conversation.sid).delete() is True


def test_create_closed_conversation(client: Client) -> None:
    conversation = client.conversations.v1.conversations.create(state="closed")
    assert conversation.state == "closed"
    assert_twilio_error(
        lambda: client.conversations.v1.conversations(conversation.sid).update(state="active"), 50377, 400
    )


def test_invalid_state_is_rejected(api: Api) -> None:
    assert_error_body(api.post("/v1/Conversations", {"State": "asleep"}), 20001, 400)


def test_timers_schedule_state_changes(client: Client) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    conversation = client.conversations.v1.conversations.create(
        state="active", timers_inactive="PT5M", timers_closed="PT1H"
    )
    after = datetime.now(UTC) + timedelta(seconds=1)
    date_inactive = datetime.strptime(conversation.timers["date_inactive"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    date_closed = datetime.strptime(conversation.timers["date_closed"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before + timedelta(minutes=5) <= date_inactive <= after + timedelta(minutes=5)
    assert before + timedelta(hours=1) <= date_closed <= after + timedelta(hours=1)

    # An inactive conversation has nothing left to become inactive; only the close timer remains.
    inactive = client.conversations.v1.conversations(conversation.sid).update(state="inactive")
    assert set(inactive.timers) == {"date_closed"}
    # Clearing both timers removes them.
    cleared = client.conversations.v1.conversations(conversation.sid).update(timers_inactive="", timers_closed="")
    assert cleared.timers == {}


def test_timers_on_update(client: Client) -> None:
    conversation = client.conversations.v1.conversations.create()
    updated = client.conversations.v1.conversations(conversation.sid).update(timers_inactive="PT2M")
    assert set(updated.timers) == {"date_inactive"}


@pytest.mark.parametrize(
    "timers",
    [
        {"timers_inactive": "PT30S"},  # below the one-minute minimum
        {"timers_closed": "PT9M"},  # below the ten-minute minimum
        {"timers_inactive": "five minutes"},
        {"timers_closed": "P"},
    ],
)
def test_invalid_timers_are_rejected(client: Client, timers: dict[str, str]) -> None:
    assert_twilio_error(lambda: client.conversations.v1.conversations.create(state="active", **timers), 20001, 400)
    conversation = client.conversations.v1.conversations.create()
    assert_twilio_error(lambda: client.conversations.v1.conversations(conversation.sid).update(**timers), 20001, 400)
    assert client.conversations.v1.conversations(conversation.sid).fetch().timers == {}


def test_timers_on_create_need_a_state(client: Client) -> None:
    assert_twilio_error(lambda: client.conversations.v1.conversations.create(timers_inactive="PT5M"), 50382, 400)
    assert_twilio_error(lambda: client.conversations.v1.conversations.create(timers_closed="PT10M"), 50382, 400)
    assert client.conversations.v1.conversations.list() == []


def test_unique_name_that_looks_like_a_conversation_sid_is_rejected(client: Client) -> None:
    assert_twilio_error(lambda: client.conversations.v1.conversations.create(unique_name=CH_LIKE_NAME), 50390, 400)
    conversation = client.conversations.v1.conversations.create()
    assert_twilio_error(
        lambda: client.conversations.v1.conversations(conversation.sid).update(unique_name=CH_LIKE_NAME),
        50390,
        400,
    )


def test_duplicate_unique_name_is_rejected(client: Client) -> None:
    client.conversations.v1.conversations.create(unique_name="taken")
    assert_twilio_error(lambda: client.conversations.v1.conversations.create(unique_name="taken"), 50353, 409)
    other = client.conversations.v1.conversations.create(unique_name="free")
    assert_twilio_error(
        lambda: client.conversations.v1.conversations(other.sid).update(unique_name="taken"), 50353, 409
    )
    assert client.conversations.v1.conversations(other.sid).fetch().unique_name == "free"
    # Renaming to its own name is not a conflict.
    assert client.conversations.v1.conversations("free").update(unique_name="free").unique_name == "free"


def test_unique_name_is_reusable_after_delete(client: Client) -> None:
    first = client.conversations.v1.conversations.create(unique_name="recycled")
    client.conversations.v1.conversations(first.sid).delete()
    second = client.conversations.v1.conversations.create(unique_name="recycled")
    assert second.sid != first.sid


def test_invalid_attributes_are_rejected(client: Client) -> None:
    assert_twilio_error(lambda: client.conversations.v1.conversations.create(attributes="{not json"), 50304, 400)
    conversation = client.conversations.v1.conversations.create(attributes='{"a": 1}')
    assert_twilio_error(
        lambda: client.conversations.v1.conversations(conversation.sid).update(attributes="nope"), 50304, 400
    )
    assert json.loads(client.conversations.v1.conversations(conversation.sid).fetch().attributes) == {"a": 1}


def test_friendly_name_longer_than_256_is_rejected(client: Client) -> None:
    assert_twilio_error(lambda: client.conversations.v1.conversations.create(friendly_name="x" * 257), 20001, 400)


def test_unknown_messaging_service_is_rejected(client: Client) -> None:
    assert_twilio_error(
        lambda: client.conversations.v1.conversations.create(messaging_service_sid="MG" + "0" * 32),
        20001,
        400,
    )


def test_conversation_keeps_its_own_messaging_service(client: Client) -> None:
    pool = client.messaging.v1.services.create(friendly_name="Second pool")
    conversation = client.conversations.v1.conversations.create(messaging_service_sid=pool.sid)
    assert conversation.messaging_service_sid == pool.sid
    assert client.conversations.v1.conversations(conversation.sid).fetch().messaging_service_sid == pool.sid


# --- service-scoped paths and isolation ---------------------------------------------------------------


def test_service_scoped_crud_and_paging(client: Client, api: Api, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant A")
    scoped: ConversationList = client.conversations.v1.services(service.sid).conversations
    created = scoped.create(friendly_name="Scoped", unique_name="scoped-1")
    assert created.chat_service_sid == service.sid
    assert created.url == f"{live.url}/v1/Services/{service.sid}/Conversations/{created.sid}"
    assert created.links["participants"] == f"{created.url}/Participants"

    assert scoped("scoped-1").fetch().sid == created.sid
    assert scoped(created.sid).update(friendly_name="Renamed").friendly_name == "Renamed"

    sids = [created.sid] + [scoped.create(friendly_name=f"s{i}").sid for i in range(4)]
    assert [c.sid for c in scoped.list(page_size=2)] == sids
    pages = walk_pages(api, f"/v1/Services/{service.sid}/Conversations", "conversations")
    assert flatten(pages) == sids
    assert scoped(created.sid).delete() is True
    assert_twilio_error(lambda: scoped(created.sid).fetch(), 20404, 404)


def test_unique_names_are_per_service(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant B")
    in_default = client.conversations.v1.conversations.create(unique_name="shared")
    in_service = client.conversations.v1.services(service.sid).conversations.create(unique_name="shared")
    assert in_default.sid != in_service.sid
    assert client.conversations.v1.services(service.sid).conversations("shared").fetch().sid == in_service.sid
    assert client.conversations.v1.conversations("shared").fetch().sid == in_default.sid


def test_a_conversation_is_invisible_from_another_service(client: Client, api: Api) -> None:
    service_a = client.conversations.v1.services.create(friendly_name="A")
    service_b = client.conversations.v1.services.create(friendly_name="B")
    conversation = client.conversations.v1.services(service_a.sid).conversations.create(unique_name="private")
    client.conversations.v1.services(service_a.sid).conversations(conversation.sid).participants.create(
        identity="alice"
    )
    message = (
        client.conversations.v1.services(service_a.sid).conversations(conversation.sid).messages.create(body="secret")
    )

    for other in (
        client.conversations.v1.services(service_b.sid).conversations,
        client.conversations.v1.conversations,
    ):
        for ref in (conversation.sid, "private"):
            assert_twilio_error(lambda o=other, r=ref: o(r).fetch(), 20404, 404)
            assert_twilio_error(lambda o=other, r=ref: o(r).update(friendly_name="x"), 20404, 404)
            assert_twilio_error(lambda o=other, r=ref: o(r).delete(), 20404, 404)
        assert_twilio_error(lambda o=other: o(conversation.sid).participants.create(identity="eve"), 20404, 404)
        assert_twilio_error(lambda o=other: o(conversation.sid).participants("alice").fetch(), 20404, 404)
        assert_twilio_error(lambda o=other: o(conversation.sid).messages.create(body="x"), 20404, 404)
        assert_twilio_error(lambda o=other: o(conversation.sid).messages(message.sid).fetch(), 20404, 404)
        assert other.list() == []

    for prefix in (f"/v1/Services/{service_b.sid}", "/v1"):
        assert api.get(f"{prefix}/Conversations/{conversation.sid}/Participants").status_code == 404
        assert api.get(f"{prefix}/Conversations/{conversation.sid}/Messages").status_code == 404
        assert api.get(f"{prefix}/ParticipantConversations?Identity=alice").json()["conversations"] == []
        assert api.get(f"{prefix}/Users/alice/Conversations").status_code == 404

    # Still intact in its own service.
    assert client.conversations.v1.services(service_a.sid).conversations("private").fetch().sid == conversation.sid


def test_unknown_service_is_404(client: Client) -> None:
    missing = client.conversations.v1.services("IS" + "0" * 32).conversations
    assert_twilio_error(lambda: missing.create(friendly_name="x"), 20404, 404)
    assert_twilio_error(lambda: missing("CH" + "0" * 32).fetch(), 20404, 404)


# --- ConversationWithParticipants ---------------------------------------------------------------------


def test_conversation_with_participants_creates_everything(
    client: Client, sender_pool: dict[str, str], live: LiveBridge
) -> None:
    created = client.conversations.v1.conversation_with_participants.create(
        friendly_name="Group",
        unique_name="group-1",
        attributes='{"source": "crm"}',
        participant=[
            json.dumps({"identity": "alice", "attributes": '{"role": "agent"}'}),
            json.dumps({"messaging_binding": {"address": "+1 (201) 555-0123", "proxy_address": sender_pool["sms"]}}),
            json.dumps(
                {
                    "messaging_binding": {
                        "address": "whatsapp:+12015550124",
                        "proxy_address": sender_pool["whatsapp"],
                    }
                }
            ),
        ],
    )
    assert created.sid.startswith("CH")
    assert (created.friendly_name, created.unique_name, created.state) == ("Group", "group-1", "active")
    assert json.loads(created.attributes) == {"source": "crm"}
    assert created.url == f"{live.url}/v1/Conversations/{created.sid}"

    participants = client.conversations.v1.conversations("group-1").participants.list()
    assert [p.identity for p in participants] == ["alice", None, None]
    assert json.loads(participants[0].attributes) == {"role": "agent"}
    assert participants[1].messaging_binding == {
        "type": "sms",
        "address": "+12015550123",
        "proxy_address": sender_pool["sms"],
    }
    assert participants[2].messaging_binding["type"] == "whatsapp"
    assert client.conversations.v1.users("alice").fetch().identity == "alice"


def test_conversation_with_participants_on_a_service_path(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="CWP")
    created = client.conversations.v1.services(service.sid).conversation_with_participants.create(
        unique_name="svc-group", participant=[json.dumps({"identity": "bob"})]
    )
    assert created.chat_service_sid == service.sid
    scoped = client.conversations.v1.services(service.sid)
    assert [p.identity for p in scoped.conversations("svc-group").participants.list()] == ["bob"]
    assert scoped.users("bob").fetch().identity == "bob"
    assert_twilio_error(lambda: client.conversations.v1.conversations("svc-group").fetch(), 20404, 404)


def test_conversation_with_participants_without_participants(client: Client) -> None:
    created = client.conversations.v1.conversation_with_participants.create(friendly_name="Empty")
    assert client.conversations.v1.conversations(created.sid).participants.list() == []


def test_more_than_ten_participants_are_refused(client: Client) -> None:
    participant = [json.dumps({"identity": f"user{i}"}) for i in range(11)]
    assert_twilio_error(
        lambda: client.conversations.v1.conversation_with_participants.create(
            unique_name="too-big", participant=participant
        ),
        50426,
        400,
    )
    assert client.conversations.v1.conversations.list() == []
    # Ten is allowed.
    created = client.conversations.v1.conversation_with_participants.create(participant=participant[:10])
    assert len(client.conversations.v1.conversations(created.sid).participants.list()) == 10


def test_binding_in_use_fails_the_whole_request(client: Client, sender_pool: dict[str, str]) -> None:
    existing = client.conversations.v1.conversations.create(unique_name="existing")
    client.conversations.v1.conversations(existing.sid).participants.create(
        messaging_binding_address="+12015550123", messaging_binding_proxy_address=sender_pool["sms"]
    )
    assert_twilio_error(
        lambda: client.conversations.v1.conversation_with_participants.create(
            unique_name="clash",
            participant=[
                json.dumps({"identity": "carol"}),
                json.dumps({"messaging_binding": {"address": "+12015550123", "proxy_address": sender_pool["sms"]}}),
            ],
        ),
        50425,
        400,
    )
    assert [c.sid for c in client.conversations.v1.conversations.list()] == [existing.sid]
    assert client.conversations.v1.participant_conversations.list(identity="carol") == []
    assert_twilio_error(lambda: client.conversations.v1.users("carol").fetch(), 20404, 404)


def test_the_same_binding_twice_in_one_request_is_refused(client: Client, sender_pool: dict[str, str]) -> None:
    binding = json.dumps({"messaging_binding": {"address": "+12015550123", "proxy_address": sender_pool["sms"]}})
    assert_twilio_error(
        lambda: client.conversations.v1.conversation_with_participants.create(participant=[binding, binding]),
        50425,
        400,
    )
    assert client.conversations.v1.conversations.list() == []


@pytest.mark.parametrize(
    ("participant", "code"),
    [
        ({"messaging_binding": {"address": "not a number", "proxy_address": "+12015550100"}}, 50407),
        ({"messaging_binding": {"address": "+12015550123"}}, 50412),
        ({"messaging_binding": {"address": "+12015550123", "proxy_address": "+12015550199"}}, 50408),
        ({"identity": "x" * 257}, 50207),
    ],
)
@pytest.mark.usefixtures("sender_pool")
def test_one_bad_participant_creates_nothing(client: Client, participant: dict[str, object], code: int) -> None:
    good = json.dumps({"identity": "dave"})
    assert_twilio_error(
        lambda: client.conversations.v1.conversation_with_participants.create(
            unique_name="half", participant=[good, json.dumps(participant)]
        ),
        code,
        400,
    )
    assert client.conversations.v1.conversations.list() == []
    assert client.conversations.v1.users.list() == []


def test_duplicate_identity_in_one_request_creates_nothing(client: Client) -> None:
    alice = json.dumps({"identity": "alice"})
    assert_twilio_error(
        lambda: client.conversations.v1.conversation_with_participants.create(participant=[alice, alice]),
        50433,
        409,
    )
    assert client.conversations.v1.conversations.list() == []


def test_conversation_with_participants_validates_the_conversation_too(client: Client) -> None:
    client.conversations.v1.conversations.create(unique_name="taken")
    participant = [json.dumps({"identity": "erin"})]
    cwp = client.conversations.v1.conversation_with_participants
    assert_twilio_error(lambda: cwp.create(unique_name="taken", participant=participant), 50353, 409)
    assert_twilio_error(lambda: cwp.create(attributes="{", participant=participant), 50304, 400)
    assert_twilio_error(lambda: cwp.create(unique_name=CH_LIKE_NAME, participant=participant), 50390, 400)
    assert len(client.conversations.v1.conversations.list()) == 1
    assert client.conversations.v1.users.list() == []


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"identity": 7}', '{"messaging_binding": "x"}'])
def test_malformed_participant_json_is_a_400(api: Api, client: Client, raw: str) -> None:
    assert_error_body(api.post("/v1/ConversationWithParticipants", {"Participant": [raw]}), 20001, 400)
    assert client.conversations.v1.conversations.list() == []


# --- odd references and forged page tokens ------------------------------------------------------------


def test_references_holding_a_nul_are_not_found(client: Client, api: Api) -> None:
    conversation = client.conversations.v1.conversations.create(unique_name="real").sid
    client.conversations.v1.conversations(conversation).participants.create(identity="alice")
    for path in (
        "/v1/Conversations/re%00al",
        "/v1/Conversations/re%00al/Participants",
        "/v1/Conversations/re%00al/Messages",
        f"/v1/Conversations/{conversation}/Participants/ali%00ce",
        f"/v1/Conversations/{conversation}/Messages/0%00",
        "/v1/Users/alice/Conversations/re%00al",
    ):
        assert_error_body(api.get(path), 20404, 404)
    assert_error_body(api.post("/v1/Conversations/re%00al", {"FriendlyName": "x"}), 20404, 404)
    assert_error_body(api.delete("/v1/Conversations/re%00al"), 20404, 404)


def forge(prefix: str, payload: object) -> str:
    return prefix + base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "forged",
    [
        forge("PD", ["after", 10**30, 1]),  # a date no datetime can hold
        forge("PD", ["after", 0, 2**64]),  # an id no BIGINT can hold
        forge("PD", ["after", 0, -1]),
        forge("PD", ["sideways", 0, 1]),
        forge("PD", ["after", 0]),
        forge("PD", ["after", "0", 1]),
        forge("PT", ["after", 3]),  # another list's token
        "PD" + "A" * 200,
        "PDnot-base64!",
    ],
)
def test_forged_tokens_on_the_date_sorted_list_are_refused(client: Client, api: Api, forged: str) -> None:
    client.conversations.v1.conversations.create()
    assert_error_body(api.get("/v1/Conversations", params={"StartDate": "2020-01-01", "PageToken": forged}), 20001, 400)


def test_racing_for_one_unique_name_only_one_wins(client: Client, api: Api) -> None:
    responses = post_concurrently(api, [("/v1/Conversations", {"UniqueName": "contested"})] * 6)
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {50353}
    assert [c.unique_name for c in client.conversations.v1.conversations.list()] == ["contested"]

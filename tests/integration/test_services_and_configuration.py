"""Conversation Services, the account Configuration and each service's Configuration, through twilio-python."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from twilio.rest import Client

from bridge.models import Conversation, ConversationService, Message, Participant, Role, User
from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_twilio_error, walk_pages
from tests.support.live import LiveBridge

DEFAULT_ROLE_TYPES = {
    "service admin": "service",
    "service user": "service",
    "channel admin": "conversation",
    "channel user": "conversation",
}


# --- first start ----------------------------------------------------------------------------------------


def test_first_start_has_a_default_conversation_service_and_messaging_service(client: Client) -> None:
    configuration = client.conversations.v1.configuration().fetch()

    service = client.conversations.v1.services(configuration.default_chat_service_sid).fetch()
    messaging = client.messaging.v1.services(configuration.default_messaging_service_sid).fetch()
    assert service.friendly_name == "Default Conversations Service"
    assert messaging.sid.startswith("MG")
    assert configuration.default_inactive_timer is None
    assert configuration.default_closed_timer is None


def test_a_new_service_gets_the_default_roles_wired_into_its_configuration(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant A")

    roles = {role.friendly_name: role for role in client.conversations.v1.services(service.sid).roles.list()}
    settings = client.conversations.v1.services(service.sid).configuration().fetch()

    assert {name: role.type for name, role in roles.items()} == DEFAULT_ROLE_TYPES
    assert settings.chat_service_sid == service.sid
    assert settings.default_chat_service_role_sid == roles["service user"].sid
    assert settings.default_conversation_role_sid == roles["channel user"].sid
    assert settings.default_conversation_creator_role_sid == roles["channel admin"].sid
    assert settings.reachability_enabled is False


def test_the_default_service_has_default_roles_wired_too(client: Client) -> None:
    default_sid = client.conversations.v1.configuration().fetch().default_chat_service_sid
    roles = {role.friendly_name: role for role in client.conversations.v1.roles.list()}
    settings = client.conversations.v1.services(default_sid).configuration().fetch()

    assert {name: role.type for name, role in roles.items()} == DEFAULT_ROLE_TYPES
    assert {role.chat_service_sid for role in roles.values()} == {default_sid}
    assert settings.default_chat_service_role_sid == roles["service user"].sid
    assert settings.default_conversation_role_sid == roles["channel user"].sid
    assert settings.default_conversation_creator_role_sid == roles["channel admin"].sid


# --- services -------------------------------------------------------------------------------------------


def test_create_and_fetch_a_service(client: Client) -> None:
    created = client.conversations.v1.services.create(friendly_name="Support desk")
    fetched = client.conversations.v1.services(created.sid).fetch()

    assert fetched.sid == created.sid
    assert fetched.friendly_name == "Support desk"
    assert fetched.date_created is not None and fetched.date_created.tzinfo is not None
    assert fetched.links["roles"].endswith(f"/v1/Services/{created.sid}/Roles")


def test_create_a_service_without_a_name_is_refused(api: Api) -> None:
    for form in ({}, {"FriendlyName": ""}, {"FriendlyName": "   "}):
        response = api.post("/v1/Services", form)
        assert response.status_code == 400, form
        assert response.json()["code"] == 20001


def test_a_service_name_longer_than_256_characters_is_refused(client: Client) -> None:
    assert_twilio_error(lambda: client.conversations.v1.services.create(friendly_name="x" * 257), 20001, 400)


def test_fetching_an_unknown_service_is_a_404(client: Client) -> None:
    assert_twilio_error(lambda: client.conversations.v1.services("IS" + "0" * 32).fetch(), 20404, 404)


def test_a_service_path_that_is_not_a_sid_is_a_404_not_a_crash(api: Api) -> None:
    for junk in ("not-a-sid", "IS%00abc", "%E2%82%AC"):
        response = api.get(f"/v1/Services/{junk}")
        assert response.status_code == 404, junk
        assert response.json()["code"] == 20404


def test_services_list_across_pages_in_creation_order(client: Client, api: Api) -> None:
    created = [client.conversations.v1.services.create(friendly_name=f"Tenant {n}").sid for n in range(5)]
    default_sid = client.conversations.v1.configuration().fetch().default_chat_service_sid

    listed = [s.sid for s in client.conversations.v1.services.list(page_size=2)]
    streamed = [s.sid for s in client.conversations.v1.services.stream(page_size=2, limit=4)]
    pages = walk_pages(api, "/v1/Services", "services")

    assert listed == [default_sid, *created]
    assert streamed == listed[:4]
    assert pages == [listed[0:2], listed[2:4], listed[4:6]]


def test_delete_a_service_removes_everything_inside_it(client: Client, api: Api, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Short lived")
    scoped = client.conversations.v1.services(service.sid)
    scoped.users.create(identity="alice")
    scoped.roles.create(friendly_name="auditor", type="service", permission=["editOwnUserInfo"])
    conversation = scoped.conversations.create(friendly_name="Inside")
    scoped.conversations(conversation.sid).participants.create(identity="alice")
    scoped.conversations(conversation.sid).messages.create(author="alice", body="hello")
    with live.database.transaction() as session:
        service_id = session.scalar(select(ConversationService.id).where(ConversationService.sid == service.sid))
        conversation_id = session.scalar(select(Conversation.id).where(Conversation.sid == conversation.sid))
    # Real ids, or the zero counts below would hold vacuously (`= NULL` matches nothing).
    assert service_id is not None and conversation_id is not None

    assert scoped.delete() is True

    assert_twilio_error(scoped.fetch, 20404, 404)
    assert api.get(f"/v1/Services/{service.sid}/Users").status_code == 404
    with live.database.transaction() as session:
        for model in (Role, User, Conversation, Participant):
            count = session.scalar(select(func.count()).select_from(model).where(model.service_id == service_id))
            assert count == 0, model.__name__
        messages = select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
        assert session.scalar(messages) == 0


def test_deleting_a_service_leaves_other_services_alone(client: Client) -> None:
    keep = client.conversations.v1.services.create(friendly_name="Keep")
    client.conversations.v1.services(keep.sid).users.create(identity="bob")
    doomed = client.conversations.v1.services.create(friendly_name="Doomed")
    client.conversations.v1.services(doomed.sid).users.create(identity="bob")

    client.conversations.v1.services(doomed.sid).delete()

    assert [u.identity for u in client.conversations.v1.services(keep.sid).users.list()] == ["bob"]
    assert len(client.conversations.v1.services(keep.sid).roles.list()) == 4


def test_the_default_service_cannot_be_deleted(client: Client) -> None:
    default_sid = client.conversations.v1.configuration().fetch().default_chat_service_sid

    assert_twilio_error(client.conversations.v1.services(default_sid).delete, 20001, 400)
    assert client.conversations.v1.services(default_sid).fetch().sid == default_sid


def test_a_former_default_service_can_be_deleted_once_another_is_the_default(client: Client) -> None:
    old_default = client.conversations.v1.configuration().fetch().default_chat_service_sid
    replacement = client.conversations.v1.services.create(friendly_name="New default")
    client.conversations.v1.configuration().update(default_chat_service_sid=replacement.sid)

    assert client.conversations.v1.services(old_default).delete() is True
    assert [s.sid for s in client.conversations.v1.services.list()] == [replacement.sid]


def test_deleting_an_unknown_service_is_a_404(client: Client) -> None:
    assert_twilio_error(client.conversations.v1.services("IS" + "1" * 32).delete, 20404, 404)


# --- account configuration ------------------------------------------------------------------------------


def test_changing_the_default_service_moves_the_default_paths(client: Client) -> None:
    replacement = client.conversations.v1.services.create(friendly_name="Replacement")

    updated = client.conversations.v1.configuration().update(default_chat_service_sid=replacement.sid)
    role = client.conversations.v1.roles.create(friendly_name="moved", type="conversation", permission=["sendMessage"])

    assert updated.default_chat_service_sid == replacement.sid
    assert client.conversations.v1.configuration().fetch().default_chat_service_sid == replacement.sid
    assert role.chat_service_sid == replacement.sid


def test_changing_the_default_messaging_service(client: Client) -> None:
    before = client.conversations.v1.configuration().fetch()
    pool = client.messaging.v1.services.create(friendly_name="Pool B")

    after = client.conversations.v1.configuration().update(default_messaging_service_sid=pool.sid)

    assert after.default_messaging_service_sid == pool.sid
    assert after.default_chat_service_sid == before.default_chat_service_sid


def test_unknown_default_services_are_refused(client: Client) -> None:
    configuration = client.conversations.v1.configuration()
    for change in (
        {"default_chat_service_sid": "IS" + "2" * 32},
        {"default_chat_service_sid": "nonsense"},
        {"default_messaging_service_sid": "MG" + "2" * 32},
    ):
        assert_twilio_error(lambda change=change: configuration.update(**change), 20001, 400)


def test_default_timers_at_their_minimums_are_accepted(client: Client) -> None:
    updated = client.conversations.v1.configuration().update(
        default_inactive_timer="PT1M", default_closed_timer="PT10M"
    )
    fetched = client.conversations.v1.configuration().fetch()

    assert (updated.default_inactive_timer, updated.default_closed_timer) == ("PT1M", "PT10M")
    assert (fetched.default_inactive_timer, fetched.default_closed_timer) == ("PT1M", "PT10M")


def test_updating_one_timer_keeps_the_other(client: Client) -> None:
    configuration = client.conversations.v1.configuration()
    configuration.update(default_inactive_timer="PT5M", default_closed_timer="P1D")

    updated = configuration.update(default_closed_timer="PT2H")

    assert (updated.default_inactive_timer, updated.default_closed_timer) == ("PT5M", "PT2H")


@pytest.mark.parametrize(
    "change",
    [
        {"default_inactive_timer": "PT59S"},
        {"default_closed_timer": "PT9M"},
        {"default_closed_timer": "PT599S"},
        {"default_inactive_timer": "10 minutes"},
        {"default_inactive_timer": "P"},
        {"default_inactive_timer": "PT"},
        {"default_inactive_timer": "PT\u0663M"},  # ARABIC-INDIC DIGIT THREE is not an ISO-8601 digit
        {"default_inactive_timer": "PT" + "9" * 30 + "H"},  # beyond any datetime arithmetic
        {"default_closed_timer": "PT" + "0" * 70 + "10M"},  # longer than the stored column
    ],
)
def test_bad_timers_are_refused_with_a_400(client: Client, change: dict[str, str]) -> None:
    assert_twilio_error(lambda: client.conversations.v1.configuration().update(**change), 20001, 400)
    unchanged = client.conversations.v1.configuration().fetch()
    assert (unchanged.default_inactive_timer, unchanged.default_closed_timer) == (None, None)


# --- service configuration ------------------------------------------------------------------------------


def test_service_configuration_points_at_roles_of_the_right_type(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Roles")
    scoped = client.conversations.v1.services(service.sid)
    service_role = scoped.roles.create(friendly_name="member", type="service", permission=["joinConversation"])
    conversation_role = scoped.roles.create(friendly_name="speaker", type="conversation", permission=["sendMessage"])

    updated = scoped.configuration().update(
        default_chat_service_role_sid=service_role.sid,
        default_conversation_role_sid=conversation_role.sid,
        default_conversation_creator_role_sid=conversation_role.sid,
        reachability_enabled=True,
    )
    fetched = scoped.configuration().fetch()

    for settings in (updated, fetched):
        assert settings.default_chat_service_role_sid == service_role.sid
        assert settings.default_conversation_role_sid == conversation_role.sid
        assert settings.default_conversation_creator_role_sid == conversation_role.sid
        assert settings.reachability_enabled is True


def test_service_configuration_refuses_a_role_of_the_wrong_type(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Types")
    roles = {r.friendly_name: r.sid for r in client.conversations.v1.services(service.sid).roles.list()}
    settings = client.conversations.v1.services(service.sid).configuration()

    for change in (
        {"default_chat_service_role_sid": roles["channel user"]},
        {"default_conversation_role_sid": roles["service user"]},
        {"default_conversation_creator_role_sid": roles["service admin"]},
    ):
        assert_twilio_error(lambda change=change: settings.update(**change), 20001, 400)
    assert settings.fetch().default_chat_service_role_sid == roles["service user"]


def test_service_configuration_refuses_roles_of_another_service(client: Client) -> None:
    first = client.conversations.v1.services.create(friendly_name="First")
    second = client.conversations.v1.services.create(friendly_name="Second")
    foreign = client.conversations.v1.services(second.sid).roles.create(
        friendly_name="foreign", type="service", permission=["joinConversation"]
    )
    settings = client.conversations.v1.services(first.sid).configuration()

    for role_sid in (foreign.sid, "RL" + "3" * 32, "nonsense"):
        assert_twilio_error(
            lambda role_sid=role_sid: settings.update(default_chat_service_role_sid=role_sid), 50109, 400
        )


def test_service_configuration_of_an_unknown_service_is_a_404(client: Client) -> None:
    assert_twilio_error(client.conversations.v1.services("IS" + "4" * 32).configuration().fetch, 20404, 404)

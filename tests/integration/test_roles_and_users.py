"""Roles and Users, on the default-service paths and the service-scoped ones, through twilio-python."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from twilio.rest import Client
from twilio.rest.conversations.v1 import V1
from twilio.rest.conversations.v1.role import RoleList
from twilio.rest.conversations.v1.service import ServiceContext
from twilio.rest.conversations.v1.service.role import RoleList as ServiceRoleList
from twilio.rest.conversations.v1.service.user import UserList as ServiceUserList
from twilio.rest.conversations.v1.user import UserList

from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_twilio_error, post_concurrently, walk_pages


@dataclass(frozen=True)
class Scope:
    """Where the roles and users under test live: twilio's handle for them and their path on the bridge."""

    context: V1 | ServiceContext
    prefix: str

    @property
    def roles(self) -> RoleList | ServiceRoleList:
        return self.context.roles

    @property
    def users(self) -> UserList | ServiceUserList:
        return self.context.users


@pytest.fixture(params=["default", "scoped"])
def scope(request: pytest.FixtureRequest, client: Client) -> Scope:
    """The same operations on `/v1/Roles` (default service) and `/v1/Services/{IS}/Roles`."""
    if request.param == "default":
        return Scope(client.conversations.v1, "/v1")
    service = client.conversations.v1.services.create(friendly_name="Scoped")
    return Scope(client.conversations.v1.services(service.sid), f"/v1/Services/{service.sid}")


def default_roles(scope: Scope | V1 | ServiceContext) -> dict[str, str]:
    return {role.friendly_name: role.sid for role in scope.roles.list()}


# --- roles ----------------------------------------------------------------------------------------------


def test_create_fetch_update_and_delete_a_conversation_role(scope: Scope) -> None:
    created = scope.roles.create(
        friendly_name="moderator", type="conversation", permission=["sendMessage", "removeParticipant"]
    )
    fetched = scope.roles(created.sid).fetch()

    assert (fetched.friendly_name, fetched.type) == ("moderator", "conversation")
    assert fetched.permissions == ["sendMessage", "removeParticipant"]
    assert fetched.url.endswith(f"/Roles/{created.sid}")

    updated = scope.roles(created.sid).update(permission=["leaveConversation"])
    assert updated.permissions == ["leaveConversation"]
    assert scope.roles(created.sid).fetch().permissions == ["leaveConversation"]

    assert scope.roles(created.sid).delete() is True
    assert_twilio_error(scope.roles(created.sid).fetch, 50109, 404)


def test_create_a_service_role(scope: Scope) -> None:
    role = scope.roles.create(
        friendly_name="creator", type="service", permission=["createConversation", "joinConversation"]
    )
    assert role.type == "service"
    assert role.permissions == ["createConversation", "joinConversation"]


def test_scoped_roles_name_their_service(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Named")
    role = client.conversations.v1.services(service.sid).roles.create(
        friendly_name="r", type="service", permission=["joinConversation"]
    )
    assert role.chat_service_sid == service.sid
    assert role.url.endswith(f"/v1/Services/{service.sid}/Roles/{role.sid}")


def test_repeated_permissions_are_kept_once(client: Client) -> None:
    role = client.conversations.v1.roles.create(
        friendly_name="dup", type="conversation", permission=["sendMessage", "sendMessage"]
    )
    assert role.permissions == ["sendMessage"]


@pytest.mark.parametrize(
    ("role_type", "permissions"),
    [
        ("conversation", ["joinConversation"]),  # a service permission
        ("conversation", ["createConversation"]),
        ("service", ["sendMessage"]),  # a conversation permission
        ("service", ["leaveConversation"]),
        ("service", ["flyToTheMoon"]),
        ("conversation", ["sendmessage"]),  # permission names are case-sensitive
        ("conversation", []),
        ("admin", ["sendMessage"]),
    ],
)
def test_permissions_are_validated_per_role_type(scope: Scope, role_type: str, permissions: list[str]) -> None:
    assert_twilio_error(
        lambda: scope.roles.create(friendly_name="bad", type=role_type, permission=permissions), 20001, 400
    )


def test_role_names_are_required_and_limited_to_64_characters(client: Client) -> None:
    for name in ("", "x" * 65):
        assert_twilio_error(
            lambda name=name: client.conversations.v1.roles.create(
                friendly_name=name, type="service", permission=["joinConversation"]
            ),
            20001,
            400,
        )
    assert (
        client.conversations.v1.roles.create(
            friendly_name="x" * 64, type="service", permission=["joinConversation"]
        ).friendly_name
        == "x" * 64
    )


def test_update_replaces_the_permission_set_and_refuses_bad_ones(client: Client) -> None:
    role = client.conversations.v1.roles.create(
        friendly_name="writer", type="service", permission=["createConversation", "editOwnUserInfo"]
    )
    context = client.conversations.v1.roles(role.sid)

    for bad in (["sendMessage"], ["nope"], []):
        assert_twilio_error(lambda bad=bad: context.update(permission=bad), 20001, 400)
    assert context.fetch().permissions == ["createConversation", "editOwnUserInfo"]

    assert context.update(permission=["joinConversation"]).permissions == ["joinConversation"]


def test_roles_list_across_pages(scope: Scope, api: Api) -> None:
    defaults = [role.sid for role in scope.roles.list()]
    created = [
        scope.roles.create(friendly_name=f"role {n}", type="conversation", permission=["sendMessage"]).sid
        for n in range(3)
    ]

    listed = [r.sid for r in scope.roles.list(page_size=2)]
    streamed = [r.sid for r in scope.roles.stream(page_size=2)]
    pages = walk_pages(api, f"{scope.prefix}/Roles", "roles")

    assert listed == streamed == [*defaults, *created]
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [sid for page in pages for sid in page] == listed


def test_a_role_of_another_service_is_not_found(client: Client) -> None:
    other = client.conversations.v1.services.create(friendly_name="Other")
    foreign = client.conversations.v1.services(other.sid).roles.create(
        friendly_name="foreign", type="service", permission=["joinConversation"]
    )
    for call in (
        client.conversations.v1.roles(foreign.sid).fetch,
        lambda: client.conversations.v1.roles(foreign.sid).update(permission=["joinConversation"]),
        client.conversations.v1.roles(foreign.sid).delete,
    ):
        assert_twilio_error(call, 50109, 404)


def test_a_role_path_that_is_not_a_sid_is_a_404(api: Api) -> None:
    for junk in ("moderator", "RL%00", "RL" + "z" * 32):
        response = api.get(f"/v1/Roles/{junk}")
        assert response.status_code == 404, junk
        assert response.json()["code"] == 50109


def test_the_default_roles_of_the_service_configuration_cannot_be_deleted(scope: Scope) -> None:
    roles = default_roles(scope)
    for name in ("service user", "channel user", "channel admin"):
        assert_twilio_error(scope.roles(roles[name]).delete, 20001, 400)
    assert set(default_roles(scope)) == set(roles)


def test_a_role_stops_being_protected_once_the_configuration_names_another(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Swap")
    scoped = client.conversations.v1.services(service.sid)
    roles = default_roles(scoped)
    replacement = scoped.roles.create(friendly_name="member", type="service", permission=["joinConversation"])
    scoped.configuration().update(default_chat_service_role_sid=replacement.sid)

    assert scoped.roles(roles["service user"]).delete() is True
    assert_twilio_error(scoped.roles(replacement.sid).delete, 20001, 400)


def test_a_role_held_by_a_user_cannot_be_deleted(client: Client) -> None:
    role = client.conversations.v1.roles.create(friendly_name="vip", type="service", permission=["createConversation"])
    user = client.conversations.v1.users.create(identity="vip-user", role_sid=role.sid)

    assert_twilio_error(client.conversations.v1.roles(role.sid).delete, 20001, 400)

    client.conversations.v1.users(user.sid).delete()
    assert client.conversations.v1.roles(role.sid).delete() is True


def test_a_role_held_by_a_participant_cannot_be_deleted(client: Client) -> None:
    role = client.conversations.v1.roles.create(
        friendly_name="speaker", type="conversation", permission=["sendMessage"]
    )
    conversation = client.conversations.v1.conversations.create(friendly_name="Talk")
    participants = client.conversations.v1.conversations(conversation.sid).participants
    participant = participants.create(identity="pat", role_sid=role.sid)

    assert_twilio_error(client.conversations.v1.roles(role.sid).delete, 20001, 400)

    participants(participant.sid).delete()
    assert client.conversations.v1.roles(role.sid).delete() is True


def test_an_unused_service_admin_role_can_be_deleted(client: Client) -> None:
    admin = default_roles(client.conversations.v1)["service admin"]
    assert client.conversations.v1.roles(admin).delete() is True


# --- users ----------------------------------------------------------------------------------------------


def test_create_a_user_with_the_service_default_role(scope: Scope) -> None:
    user = scope.users.create(identity="alice")

    assert user.identity == "alice"
    assert user.role_sid == default_roles(scope)["service user"]
    assert user.attributes == "{}"
    assert user.friendly_name is None
    assert user.links["user_conversations"].endswith(f"/Users/{user.sid}/Conversations")


def test_create_a_user_with_every_field(scope: Scope) -> None:
    admin = default_roles(scope)["service admin"]
    user = scope.users.create(
        identity="bob", friendly_name="Bob", attributes=json.dumps({"team": "blue"}), role_sid=admin
    )

    fetched = scope.users(user.sid).fetch()
    assert (fetched.friendly_name, fetched.role_sid) == ("Bob", admin)
    assert json.loads(fetched.attributes) == {"team": "blue"}


def test_identity_is_unique_per_service(client: Client) -> None:
    client.conversations.v1.users.create(identity="carol")

    assert_twilio_error(lambda: client.conversations.v1.users.create(identity="carol"), 50201, 409)

    other = client.conversations.v1.services.create(friendly_name="Elsewhere")
    assert client.conversations.v1.services(other.sid).users.create(identity="carol").identity == "carol"
    # Identities are case-sensitive.
    assert client.conversations.v1.users.create(identity="Carol").identity == "Carol"


def test_fetch_a_user_by_identity_or_by_sid(scope: Scope) -> None:
    user = scope.users.create(identity="dave@example.com")
    spaced = scope.users.create(identity="eve the agent")

    assert scope.users("dave@example.com").fetch().sid == user.sid
    assert scope.users(user.sid).fetch().identity == "dave@example.com"
    assert scope.users("eve the agent").fetch().sid == spaced.sid


def test_unknown_users_are_a_404(client: Client, api: Api) -> None:
    for key in ("nobody", "US" + "5" * 32):
        assert_twilio_error(client.conversations.v1.users(key).fetch, 20404, 404)
    response = api.get("/v1/Users/no%00body")
    assert (response.status_code, response.json()["code"]) == (404, 20404)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"identity": ""}, 20001),
        ({"identity": "x" * 257}, 50207),
        ({"identity": "frank", "attributes": "{not json"}, 50304),
        ({"identity": "frank", "attributes": json.dumps({"a": "x" * 16 * 1024})}, 50304),
        ({"identity": "frank", "friendly_name": "x" * 257}, 20001),
        ({"identity": "frank", "role_sid": "RL" + "6" * 32}, 50109),
    ],
)
def test_bad_user_fields_are_refused(client: Client, fields: dict[str, str], code: int) -> None:
    assert_twilio_error(lambda: client.conversations.v1.users.create(**fields), code, 400)


def test_a_user_cannot_hold_a_conversation_role(client: Client) -> None:
    channel_user = default_roles(client.conversations.v1)["channel user"]

    assert_twilio_error(
        lambda: client.conversations.v1.users.create(identity="gina", role_sid=channel_user), 20001, 400
    )

    user = client.conversations.v1.users.create(identity="gina")
    assert_twilio_error(lambda: client.conversations.v1.users(user.sid).update(role_sid=channel_user), 20001, 400)


def test_update_a_user(scope: Scope) -> None:
    user = scope.users.create(identity="hank", friendly_name="Hank")
    admin = default_roles(scope)["service admin"]

    updated = scope.users("hank").update(friendly_name="Henry", attributes='{"vip": true}', role_sid=admin)
    fetched = scope.users(user.sid).fetch()

    for view in (updated, fetched):
        assert (view.identity, view.friendly_name, view.role_sid) == ("hank", "Henry", admin)
        assert json.loads(view.attributes) == {"vip": True}


def test_updating_one_user_field_keeps_the_others(client: Client) -> None:
    user = client.conversations.v1.users.create(identity="ivy", friendly_name="Ivy", attributes='{"k": 1}')

    updated = client.conversations.v1.users(user.sid).update(friendly_name="Ivy B")

    assert (updated.friendly_name, json.loads(updated.attributes), updated.role_sid) == (
        "Ivy B",
        {"k": 1},
        user.role_sid,
    )


def test_bad_updates_leave_the_user_unchanged(client: Client) -> None:
    user = client.conversations.v1.users.create(identity="jack", attributes='{"k": 1}')
    context = client.conversations.v1.users(user.sid)

    for fields, code in (({"attributes": "[oops"}, 50304), ({"role_sid": "RL" + "7" * 32}, 50109)):
        assert_twilio_error(lambda fields=fields: context.update(**fields), code, 400)
    assert json.loads(context.fetch().attributes) == {"k": 1}
    assert context.fetch().role_sid == user.role_sid


def test_delete_a_user(scope: Scope) -> None:
    user = scope.users.create(identity="kate")

    assert scope.users(user.sid).delete() is True

    assert_twilio_error(scope.users(user.sid).fetch, 20404, 404)
    assert_twilio_error(scope.users(user.sid).delete, 20404, 404)
    # The identity is free again.
    assert scope.users.create(identity="kate").sid != user.sid
    assert scope.users("kate").delete() is True
    assert scope.users.list() == []


def test_concurrent_creates_of_one_identity_make_one_user(api: Api, client: Client) -> None:
    responses = post_concurrently(api, [("/v1/Users", {"Identity": "racer"})] * 5)

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {50201}
    assert [u.identity for u in client.conversations.v1.users.list()] == ["racer"]


def test_users_of_another_service_are_invisible(client: Client) -> None:
    other = client.conversations.v1.services.create(friendly_name="Other")
    foreign = client.conversations.v1.services(other.sid).users.create(identity="liam")

    for key in (foreign.sid, "liam"):
        assert_twilio_error(client.conversations.v1.users(key).fetch, 20404, 404)


def test_users_list_across_pages(scope: Scope, api: Api) -> None:
    created = [scope.users.create(identity=f"user-{n}").sid for n in range(5)]

    listed = [u.sid for u in scope.users.list(page_size=2)]
    streamed = [u.sid for u in scope.users.stream(page_size=2, limit=3)]
    pages = walk_pages(api, f"{scope.prefix}/Users", "users")

    assert listed == created
    assert streamed == created[:3]
    assert pages == [created[0:2], created[2:4], created[4:5]]


def test_reachability_shows_only_on_a_single_fetch_when_enabled(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Reach")
    scoped = client.conversations.v1.services(service.sid)
    user = scoped.users.create(identity="mia")
    assert scoped.users(user.sid).fetch().is_online is None

    scoped.configuration().update(reachability_enabled=True)

    assert scoped.users(user.sid).fetch().is_online is False
    assert [u.is_online for u in scoped.users.list()] == [None]

"""The client actions' permission table and the decisions made from a service role and a conversation role."""

from __future__ import annotations

import pytest

from bridge import roles
from bridge.chat.permissions import REQUIRED, Action, granted, granting_permissions, not_authorized

SERVICE_USER = roles.DEFAULT_ROLES["service user"][1]
SERVICE_ADMIN = roles.DEFAULT_ROLES["service admin"][1]
CHANNEL_USER = roles.DEFAULT_ROLES["channel user"][1]
CHANNEL_ADMIN = roles.DEFAULT_ROLES["channel admin"][1]


def test_every_action_needs_a_permission_that_a_role_can_hold() -> None:
    assert set(REQUIRED) == set(Action)
    for action in Action:
        for own in (True, False):
            for permission in granting_permissions(action, own):
                assert permission in roles.SERVICE_PERMISSIONS | roles.CONVERSATION_PERMISSIONS, permission


@pytest.mark.parametrize(
    ("action", "own", "expected"),
    [
        (Action.SEND_MESSAGE, True, ("sendMessage",)),
        (Action.EDIT_MESSAGE, True, ("editOwnMessage", "editAnyMessage")),
        (Action.EDIT_MESSAGE, False, ("editAnyMessage",)),
        (Action.DELETE_MESSAGE, True, ("deleteOwnMessage", "deleteAnyMessage")),
        (Action.DELETE_MESSAGE, False, ("deleteAnyMessage",)),
        (Action.EDIT_MESSAGE_ATTRIBUTES, False, ("editAnyMessageAttributes",)),
        (Action.DELETE_CONVERSATION, True, ("deleteConversation",)),
        (Action.LEAVE_CONVERSATION, True, ("leaveConversation",)),
        (Action.EDIT_USER_INFO, False, ("editAnyUserInfo",)),
    ],
)
def test_the_table_names_twilio_s_permissions(action: Action, own: bool, expected: tuple[str, ...]) -> None:
    assert granting_permissions(action, own) == expected


def test_a_permission_in_either_role_grants_and_in_neither_refuses() -> None:
    assert granted(Action.DELETE_MESSAGE, False, SERVICE_ADMIN, CHANNEL_USER)  # the service role grants it
    assert granted(Action.DELETE_MESSAGE, False, SERVICE_USER, CHANNEL_ADMIN)  # the conversation role grants it
    assert not granted(Action.DELETE_MESSAGE, False, SERVICE_USER, CHANNEL_USER)
    assert granted(Action.DELETE_MESSAGE, True, SERVICE_USER, CHANNEL_USER)
    assert not granted(Action.SEND_MESSAGE, True, SERVICE_ADMIN, [])  # no participant: no conversation rights


def test_the_default_roles_keep_twilio_s_defaults() -> None:
    # A participant may talk, edit and remove its own messages and leave; renaming, adding, removing others and
    # deleting the conversation are the creator's (channel admin) and the service admin's.
    for action in (Action.SEND_MESSAGE, Action.EDIT_MESSAGE, Action.DELETE_MESSAGE, Action.LEAVE_CONVERSATION):
        assert granted(action, True, SERVICE_USER, CHANNEL_USER), action
    for action in (
        Action.EDIT_CONVERSATION_NAME,
        Action.EDIT_CONVERSATION_ATTRIBUTES,
        Action.ADD_PARTICIPANT,
        Action.REMOVE_PARTICIPANT,
        Action.DELETE_CONVERSATION,
    ):
        assert not granted(action, True, SERVICE_USER, CHANNEL_USER), action
        assert granted(action, True, SERVICE_USER, CHANNEL_ADMIN), action
    assert not granted(Action.EDIT_MESSAGE, False, SERVICE_USER, CHANNEL_USER)
    assert granted(Action.JOIN_CONVERSATION, True, SERVICE_USER, [])
    assert granted(Action.CREATE_CONVERSATION, True, SERVICE_USER, [])


def test_the_service_roles_are_twilio_s_chat_defaults_in_conversations_names() -> None:
    # Twilio's Service Admin and Service User of Programmable Chat, renamed (createChannel -> createConversation,
    # addMember -> addParticipant, editAnyMemberAttributes -> editAnyParticipantAttributes, ...; inviteMember has
    # no Conversations equivalent).
    assert set(SERVICE_ADMIN) == {
        "createConversation",
        "joinConversation",
        "deleteConversation",
        "editConversationAttributes",
        "editConversationName",
        "addParticipant",
        "removeParticipant",
        "editAnyParticipantAttributes",
        "editAnyMessage",
        "deleteAnyMessage",
        "editAnyMessageAttributes",
        "editAnyUserInfo",
    }
    assert set(SERVICE_USER) == {"createConversation", "editOwnUserInfo", "joinConversation"}


def test_a_refusal_is_twilio_s_50107_with_403() -> None:
    error = not_authorized("sendMessage")
    assert (error.code, error.status) == (50107, 403)
    assert "sendMessage" in error.message

"""Push settings and bindings without a database: Twilio's defaults, partial updates, what a binding shows."""

from __future__ import annotations

import pytest

from bridge.errors import BridgeError
from bridge.models import ConversationService
from bridge.push import bindings, credentials, settings
from bridge.push.bindings import Registration


class FlushOnly:
    """update_settings only flushes; nothing here needs a database."""

    def flush(self) -> None:
        pass


def service(notifications: dict[str, object] | None = None) -> ConversationService:
    return ConversationService(sid="IS" + "0" * 32, friendly_name="s", notifications=notifications or {})


def test_a_service_never_configured_pushes_nothing_and_uses_twilios_texts() -> None:
    effective = settings.effective_settings(service())
    assert effective.log_enabled is False
    for event in settings.EVENTS:
        assert effective.event(event).enabled is False
        assert effective.event(event).sound is None
    assert effective.new_message.template == "${CONVERSATION}:${PARTICIPANT}: ${MESSAGE}"
    assert effective.new_message.with_media_enabled is False
    assert effective.new_message.with_media_template.startswith("You have a new message in ${CONVERSATION} with")
    assert effective.removed_from_conversation.template.startswith("${PARTICIPANT} has removed you")


def test_an_update_changes_only_the_fields_sent() -> None:
    configured = service()
    settings.update_settings(FlushOnly(), configured, {"NewMessage.Enabled": True, "NewMessage.Sound": "ring"})
    settings.update_settings(FlushOnly(), configured, {"NewMessage.WithMedia.Template": "${MEDIA}", "Other": "x"})
    effective = settings.effective_settings(configured)
    assert (effective.new_message.enabled, effective.new_message.sound) == (True, "ring")
    assert effective.new_message.with_media_template == "${MEDIA}"
    assert effective.added_to_conversation.enabled is False
    assert configured.notifications == {
        "new_message": {"enabled": True, "sound": "ring", "with_media": {"template": "${MEDIA}"}}
    }


def test_a_refused_update_leaves_the_stored_settings_as_they_were() -> None:
    configured = service({"log_enabled": True})
    with pytest.raises(BridgeError) as refused:
        update = {"AddedToConversation.Enabled": True, "AddedToConversation.Template": "x" * 5000}
        settings.update_settings(FlushOnly(), configured, update)
    assert refused.value.code == 50058
    assert configured.notifications == {"log_enabled": True}


def test_the_resource_shows_unset_templates_as_null() -> None:
    resource = settings.settings_resource(service({"new_message": {"template": "hi"}}), "https://bridge.example")
    assert resource["new_message"]["template"] == "hi"
    assert resource["added_to_conversation"] == {"enabled": False, "template": None, "sound": None}
    assert resource["url"] == "https://bridge.example/v1/Services/IS" + "0" * 32 + "/Configuration/Notifications"


def test_bindings_show_the_short_names_of_the_types_a_service_pushes() -> None:
    names = ["twilio.conversations.new_message", "twilio.ipmsg.typing_indicator", "twilio.channel.consumption_update"]
    assert bindings.short_message_types([*names, "twilio.conversations.new_message"]) == ["new_message"]


def test_an_endpoint_names_the_device_without_its_token() -> None:
    first = bindings.endpoint_of("alice", Registration("fcm", "token-one", []))
    assert first.startswith("alice-web-fcm-") and "token-one" not in first
    assert bindings.endpoint_of("alice", Registration("fcm", "token-two", [])) != first
    assert len(bindings.endpoint_of("a" * 300, Registration("apn", "t", []))) == bindings.ENDPOINT_LIMIT


def test_a_service_account_key_needs_its_project_account_and_key() -> None:
    key = '{"project_id": "p", "client_email": "e@p.iam", "private_key": "-----BEGIN PRIVATE KEY-----\\nx"}'
    assert credentials.service_account(key)["project_id"] == "p"
    with pytest.raises(BridgeError):
        credentials.service_account('{"project_id": "p", "client_email": "e", "private_key": "not a key"}')

"""Push texts and payloads: Twilio's template variables, the 178-character cut, and how FCM and APNs carry the
fields the Conversations SDK reads."""

from __future__ import annotations

import json

from bridge.push.payloads import (
    ADDED_TO_CONVERSATION,
    NEW_MESSAGE,
    Push,
    TemplateContext,
    apns_payload,
    fcm_data,
    fcm_message,
    render,
)
from bridge.push.settings import DEFAULT_MEDIA_TEMPLATE, DEFAULT_TEMPLATES

PHOTO = {"sid": "ME" + "1" * 32, "filename": "cat.jpg", "content_type": "image/jpeg", "size": 9941}


def context(**changes: object) -> TemplateContext:
    fields: dict[str, object] = {
        "conversation_sid": "CH" + "a" * 32,
        "friendly_name": "Support",
        "unique_name": None,
        "participant": "Alice",
        "participant_sid": "MB" + "b" * 32,
        "message": "Where is my order?",
    }
    fields.update(changes)
    return TemplateContext(**fields)  # type: ignore[arg-type]


def test_the_default_new_message_text() -> None:
    assert render(DEFAULT_TEMPLATES["new_message"], context()) == "Support:Alice: Where is my order?"


def test_conversation_prefers_the_unique_name_and_friendly_name_the_friendly_name() -> None:
    both = context(unique_name="ticket-42")
    assert render("${CONVERSATION}|${CONVERSATION_UNIQUE_NAME}|${CONVERSATION_FRIENDLY_NAME}", both) == (
        "ticket-42|ticket-42|Support"
    )
    neither = context(friendly_name=None, unique_name=None)
    sid = "CH" + "a" * 32
    assert render("${CONVERSATION}/${CONVERSATION_FRIENDLY_NAME}/${CONVERSATION_SID}", neither) == f"{sid}/{sid}/{sid}"


def test_participant_variables_and_unknown_names_left_as_written() -> None:
    text = render("${PARTICIPANT_IDENTITY} ${PARTICIPANT_SID} ${NOT_A_VARIABLE} $MESSAGE", context())
    assert text == "Alice MB" + "b" * 32 + " ${NOT_A_VARIABLE} $MESSAGE"
    assert render("${PARTICIPANT_SID}", context(participant_sid="")) == "Alice"  # no SID: the identity


def test_the_text_is_cut_to_178_characters_after_substitution() -> None:
    long_body = "x" * 300
    text = render("${PARTICIPANT}: ${MESSAGE}", context(message=long_body))
    assert len(text) == 178 and text.startswith("Alice: xxx")
    # Repeated variables count each time they appear.
    assert render("${MESSAGE}${MESSAGE}", context(message="y" * 100)) == "y" * 178
    # Characters, not bytes: 178 emoji stay 178.
    assert render("${MESSAGE}", context(message="😀" * 200)) == "😀" * 178


def test_media_variables() -> None:
    media = context(media=[PHOTO, {**PHOTO, "filename": "dog.png"}])
    assert render(DEFAULT_MEDIA_TEMPLATE, media) == "You have a new message in Support with 2 media files: cat.jpg"
    assert render("${MEDIA_COUNT} ${MEDIA}", context()) == "0 "


def test_fcm_data_is_all_strings_with_twilios_keys() -> None:
    push = Push(
        message_type=NEW_MESSAGE,
        body="Support:Alice: hi",
        conversation_sid="CH1",
        sound="ding.wav",
        badge=4,  # never on FCM
        conversation_title="Support",
        message_sid="IM1",
        message_index=12,
        author="alice",
        media=[PHOTO],
    )
    data = fcm_data(push)
    assert data == {
        "twi_message_type": "twilio.conversations.new_message",
        "twi_body": "Support:Alice: hi",
        "twi_sound": "ding.wav",
        "conversation_sid": "CH1",
        "conversation_title": "Support",
        "message_sid": "IM1",
        "message_index": "12",
        "author": "alice",
        "media_count": "1",
        "media": json.dumps(
            {"filename": "cat.jpg", "size": 9941, "content_type": "image/jpeg", "sid": PHOTO["sid"]},
            separators=(",", ":"),
        ),
    }
    assert all(isinstance(value, str) for value in data.values())
    assert fcm_message(push, "device-token") == {"message": {"token": "device-token", "data": data}}


def test_fcm_leaves_out_what_an_event_does_not_have() -> None:
    data = fcm_data(Push(message_type=ADDED_TO_CONVERSATION, body="You have been added", conversation_sid="CH1"))
    assert data == {
        "twi_message_type": "twilio.conversations.added_to_conversation",
        "twi_body": "You have been added",
        "conversation_sid": "CH1",
    }


def test_apns_puts_the_alert_in_aps_and_the_fields_beside_it() -> None:
    push = Push(
        message_type=NEW_MESSAGE,
        body="hi",
        conversation_sid="CH1",
        sound="default",
        badge=3,
        message_sid="IM1",
        message_index=7,
        media=[PHOTO],
    )
    payload = apns_payload(push)
    assert payload["aps"] == {"alert": {"body": "hi"}, "sound": "default", "badge": 3, "mutable-content": 1}
    assert payload["twi_message_type"] == NEW_MESSAGE and payload["conversation_sid"] == "CH1"
    assert payload["message_index"] == 7 and payload["media_count"] == 1  # numbers on APNs
    assert payload["media"] == {"filename": "cat.jpg", "size": 9941, "content_type": "image/jpeg", "sid": PHOTO["sid"]}


def test_apns_without_badge_sound_or_media() -> None:
    payload = apns_payload(Push(message_type=NEW_MESSAGE, body="hi", conversation_sid="CH1"))
    assert payload == {"aps": {"alert": {"body": "hi"}}, "twi_message_type": NEW_MESSAGE, "conversation_sid": "CH1"}


def test_a_stored_push_reads_back_the_same() -> None:
    push = Push(message_type=NEW_MESSAGE, body="hi", conversation_sid="CH1", badge=2, media=[PHOTO], message_index=0)
    assert Push.from_stored(json.loads(json.dumps(push.stored()))) == push


def test_log_lines_show_a_masked_token() -> None:
    from workers.push import mask_token

    assert mask_token("abcdefghijklmnopqrstuvwxyz") == "abcd…wxyz"
    assert mask_token("short-token") == "…" and mask_token(None) == "-"

"""Address Configurations (`/v1/Configuration/Addresses`): per-address autocreation, through twilio-python."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.rest import Client

from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_twilio_error, post_concurrently, walk_pages

# --- create ---------------------------------------------------------------------------------------------


def test_create_an_sms_configuration_with_the_address_normalised_to_e164(client: Client) -> None:
    created = client.conversations.v1.address_configurations.create(
        type="sms", address="+1 (201) 555-0100", friendly_name="Front desk", address_country="US"
    )

    assert created.sid.startswith("IG")
    assert (created.type, created.address, created.friendly_name) == ("sms", "+12015550100", "Front desk")
    assert created.address_country == "US"
    assert created.auto_creation == {"enabled": False, "type": "default"}
    assert created.url.endswith(f"/v1/Configuration/Addresses/{created.sid}")


@pytest.mark.parametrize("address", ["+12015550102", "whatsapp:+12015550102", "WhatsApp: +1 201-555-0102"])
def test_a_whatsapp_configuration_keeps_its_channel_prefix(client: Client, address: str) -> None:
    created = client.conversations.v1.address_configurations.create(type="whatsapp", address=address)
    assert (created.type, created.address) == ("whatsapp", "whatsapp:+12015550102")


def test_the_type_is_case_insensitive(client: Client) -> None:
    created = client.conversations.v1.address_configurations.create(type="WhAtsAPP", address="+12015550102")
    assert created.type == "whatsapp"


def test_an_sms_and_a_whatsapp_configuration_of_the_same_number_coexist(client: Client) -> None:
    sms = client.conversations.v1.address_configurations.create(type="sms", address="+12015550100")
    whatsapp = client.conversations.v1.address_configurations.create(type="whatsapp", address="+12015550100")
    assert (sms.address, whatsapp.address) == ("+12015550100", "whatsapp:+12015550100")


def test_create_with_webhook_autocreation(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Inbound")

    created = client.conversations.v1.address_configurations.create(
        type="sms",
        address="+12015550100",
        auto_creation_enabled=True,
        auto_creation_type="webhook",
        auto_creation_conversation_service_sid=service.sid,
        auto_creation_webhook_url="https://example.com/hook",
        auto_creation_webhook_method="post",
        auto_creation_webhook_filters=["onMessageAdded", "onParticipantAdded"],
    )

    assert created.auto_creation == {
        "enabled": True,
        "type": "webhook",
        "conversation_service_sid": service.sid,
        "webhook_url": "https://example.com/hook",
        "webhook_method": "POST",
        "webhook_filters": ["onMessageAdded", "onParticipantAdded"],
    }


@pytest.mark.parametrize("kind", ["messenger", "gbm", "email", "rcs", "apple", "chat", "fax", ""])
def test_unsupported_types_are_refused(client: Client, kind: str) -> None:
    assert_twilio_error(
        lambda: client.conversations.v1.address_configurations.create(type=kind, address="+12015550100"), 20001, 400
    )


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("sms", "2015550100"),  # national format: no country
        ("sms", "+1 201 555 0100 x12"),  # an extension
        ("sms", "+1-800-FLOWERS"),  # letters, which phonenumbers would map to digits
        ("sms", "12345"),  # a short code
        ("sms", "+12345"),  # too short for any numbering plan
        ("sms", "whatsapp:+12015550100"),  # a WhatsApp address given as SMS
        ("sms", "messenger:12345"),
        ("whatsapp", "whatsapp:hello"),
        ("sms", "+" + "1" * 300),
    ],
)
def test_bad_addresses_are_refused(client: Client, kind: str, address: str) -> None:
    assert_twilio_error(
        lambda: client.conversations.v1.address_configurations.create(type=kind, address=address), 50407, 400
    )


def test_an_address_has_one_configuration(client: Client) -> None:
    client.conversations.v1.address_configurations.create(type="sms", address="+12015550100")

    assert_twilio_error(
        lambda: client.conversations.v1.address_configurations.create(type="sms", address="+1 201 555 0100"), 50511, 409
    )


def test_concurrent_creates_for_one_address_make_one_configuration(api: Api, client: Client) -> None:
    form = {"Type": "sms", "Address": "+12015550100"}
    responses = post_concurrently(api, [("/v1/Configuration/Addresses", form)] * 4)

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {50511}
    assert len(client.conversations.v1.address_configurations.list()) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"auto_creation_type": "studio", "auto_creation_studio_flow_sid": "FW" + "0" * 32},
        {"auto_creation_type": "nonsense"},
        {"auto_creation_enabled": True, "auto_creation_type": "webhook"},  # a webhook needs a URL
        {"auto_creation_webhook_method": "PUT"},
        {"auto_creation_webhook_url": "not a url"},
        {"auto_creation_enabled": True, "auto_creation_type": "webhook", "auto_creation_webhook_url": "ftp://x/y"},
        {"auto_creation_webhook_filters": ["onUserAdded"]},  # not an autocreation event
        {"auto_creation_conversation_service_sid": "IS" + "0" * 32},
        {"auto_creation_conversation_service_sid": "not-a-sid"},
        {"address_country": "United States of America"},
        {"address_country": "U1"},
        {"friendly_name": "x" * 257},
    ],
)
def test_bad_settings_are_refused(client: Client, fields: dict[str, Any]) -> None:
    assert_twilio_error(
        lambda: client.conversations.v1.address_configurations.create(type="sms", address="+12015550100", **fields),
        20001,
        400,
    )
    assert client.conversations.v1.address_configurations.list() == []


def test_missing_type_or_address_is_refused(api: Api) -> None:
    for form in ({"Address": "+12015550100"}, {"Type": "sms"}):
        response = api.post("/v1/Configuration/Addresses", form)
        assert (response.status_code, response.json()["code"]) == (400, 20001), form


# --- fetch ----------------------------------------------------------------------------------------------


def test_fetch_by_sid_or_by_address(client: Client) -> None:
    sms = client.conversations.v1.address_configurations.create(type="sms", address="+12015550100")
    whatsapp = client.conversations.v1.address_configurations.create(type="whatsapp", address="+12015550102")

    assert client.conversations.v1.address_configurations(sms.sid).fetch().address == "+12015550100"
    assert client.conversations.v1.address_configurations("+12015550100").fetch().sid == sms.sid
    assert client.conversations.v1.address_configurations("whatsapp:+12015550102").fetch().sid == whatsapp.sid


def test_unknown_configurations_are_a_404(client: Client, api: Api) -> None:
    client.conversations.v1.address_configurations.create(type="whatsapp", address="+12015550102")
    # The WhatsApp configuration is not the SMS one of the same number.
    for key in ("IG" + "0" * 32, "+12015550102", "+12015550199", "nonsense"):
        assert_twilio_error(client.conversations.v1.address_configurations(key).fetch, 20404, 404)
    response = api.get("/v1/Configuration/Addresses/IG%00")
    assert (response.status_code, response.json()["code"]) == (404, 20404)


# --- list -----------------------------------------------------------------------------------------------


def test_list_filters_by_type(client: Client) -> None:
    configs = client.conversations.v1.address_configurations
    sms = [configs.create(type="sms", address=f"+1201555010{n}").sid for n in range(3)]
    whatsapp = [configs.create(type="whatsapp", address=f"+1201555020{n}").sid for n in range(2)]

    assert [c.sid for c in configs.list(type="sms", page_size=2)] == sms
    assert [c.sid for c in configs.list(type="whatsapp", page_size=1)] == whatsapp
    assert [c.sid for c in configs.list(type="WhatsApp")] == whatsapp
    assert [c.sid for c in configs.list()] == [*sms, *whatsapp]


def test_list_across_pages(client: Client, api: Api) -> None:
    created = [
        client.conversations.v1.address_configurations.create(type="sms", address=f"+1201555010{n}").sid
        for n in range(5)
    ]

    listed = [c.sid for c in client.conversations.v1.address_configurations.list(page_size=2)]
    streamed = [c.sid for c in client.conversations.v1.address_configurations.stream(page_size=2, limit=3)]
    pages = walk_pages(api, "/v1/Configuration/Addresses", "address_configurations")

    assert listed == created
    assert streamed == created[:3]
    assert pages == [created[0:2], created[2:4], created[4:5]]


def test_the_type_filter_survives_paging(api: Api, client: Client) -> None:
    configs = client.conversations.v1.address_configurations
    for n in range(3):
        configs.create(type="sms", address=f"+1201555010{n}")
        configs.create(type="whatsapp", address=f"+1201555020{n}")

    pages = walk_pages(api, "/v1/Configuration/Addresses?Type=whatsapp", "address_configurations")

    assert [len(page) for page in pages] == [2, 1]
    whatsapp = {c.sid for c in configs.list(type="whatsapp")}
    assert {sid for page in pages for sid in page} == whatsapp


# --- update and delete ----------------------------------------------------------------------------------


def test_update_changes_only_what_is_sent(client: Client) -> None:
    created = client.conversations.v1.address_configurations.create(
        type="sms", address="+12015550100", friendly_name="Desk", auto_creation_enabled=True
    )
    context = client.conversations.v1.address_configurations(created.sid)

    renamed = context.update(friendly_name="Front desk")
    assert renamed.friendly_name == "Front desk"
    assert renamed.auto_creation == {"enabled": True, "type": "default"}

    hooked = context.update(
        auto_creation_type="webhook",
        auto_creation_webhook_url="https://example.com/in",
        auto_creation_webhook_filters=["onMessageAdded"],
    )
    assert hooked.friendly_name == "Front desk"
    assert hooked.auto_creation == {
        "enabled": True,
        "type": "webhook",
        "webhook_url": "https://example.com/in",
        "webhook_filters": ["onMessageAdded"],
    }

    disabled = context.update(auto_creation_enabled=False)
    assert disabled.auto_creation["enabled"] is False
    assert (disabled.type, disabled.address) == ("sms", "+12015550100")
    assert context.fetch().auto_creation == disabled.auto_creation


def test_update_by_address(client: Client) -> None:
    client.conversations.v1.address_configurations.create(type="whatsapp", address="+12015550102")
    updated = client.conversations.v1.address_configurations("whatsapp:+12015550102").update(friendly_name="WA")
    assert updated.friendly_name == "WA"


def test_a_refused_update_changes_nothing(client: Client) -> None:
    created = client.conversations.v1.address_configurations.create(
        type="sms", address="+12015550100", friendly_name="Desk"
    )
    context = client.conversations.v1.address_configurations(created.sid)

    for fields in (
        {"friendly_name": "Renamed", "auto_creation_enabled": True, "auto_creation_type": "webhook"},
        {"friendly_name": "Renamed", "auto_creation_webhook_filters": ["onEverything"]},
    ):
        assert_twilio_error(lambda fields=fields: context.update(**fields), 20001, 400)
    unchanged = context.fetch()
    assert (unchanged.friendly_name, unchanged.auto_creation) == ("Desk", {"enabled": False, "type": "default"})


def test_updating_an_unknown_configuration_is_a_404(client: Client) -> None:
    assert_twilio_error(
        lambda: client.conversations.v1.address_configurations("+12015550100").update(friendly_name="x"), 20404, 404
    )


def test_delete_by_sid_or_address(client: Client) -> None:
    sms = client.conversations.v1.address_configurations.create(type="sms", address="+12015550100")
    client.conversations.v1.address_configurations.create(type="whatsapp", address="+12015550102")

    assert client.conversations.v1.address_configurations(sms.sid).delete() is True
    assert client.conversations.v1.address_configurations("whatsapp:+12015550102").delete() is True

    assert client.conversations.v1.address_configurations.list() == []
    assert_twilio_error(client.conversations.v1.address_configurations(sms.sid).delete, 20404, 404)
    # The address is free for a new configuration.
    assert client.conversations.v1.address_configurations.create(type="sms", address="+12015550100").sid != sms.sid


def test_deleting_a_service_switches_off_autocreation_into_it(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Gone soon")
    created = client.conversations.v1.address_configurations.create(
        type="sms",
        address="+12015550100",
        auto_creation_enabled=True,
        auto_creation_conversation_service_sid=service.sid,
    )

    client.conversations.v1.services(service.sid).delete()

    # No silent fallback into another tenant's service: autocreation stops until someone points it somewhere.
    after = client.conversations.v1.address_configurations(created.sid).fetch()
    assert after.auto_creation == {"enabled": False, "type": "default"}
    # And the configuration stays editable (no dangling service SID that fails every later update).
    assert client.conversations.v1.address_configurations(created.sid).update(friendly_name="x").friendly_name == "x"

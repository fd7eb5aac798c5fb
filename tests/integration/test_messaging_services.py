"""Messaging Services (`/messaging/v1/Services`) and their sender pools, through twilio-python."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.rest import Client

from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_twilio_error, post_concurrently, walk_pages


def default_messaging_service_sid(client: Client) -> str:
    return client.conversations.v1.configuration().fetch().default_messaging_service_sid


# --- services -------------------------------------------------------------------------------------------


def test_create_and_fetch_with_twilio_defaults(client: Client) -> None:
    created = client.messaging.v1.services.create(friendly_name="Alerts")
    fetched = client.messaging.v1.services(created.sid).fetch()

    assert fetched.sid.startswith("MG") and fetched.friendly_name == "Alerts"
    assert (fetched.inbound_method, fetched.fallback_method) == ("POST", "POST")
    assert (fetched.sticky_sender, fetched.mms_converter, fetched.smart_encoding) == (True, True, False)
    assert (fetched.validity_period, fetched.usecase, fetched.scan_message_content) == (36000, "undeclared", "inherit")
    assert fetched.inbound_request_url is None
    assert fetched.links["phone_numbers"].endswith(f"/messaging/v1/Services/{created.sid}/PhoneNumbers")


def test_create_with_settings(client: Client) -> None:
    created = client.messaging.v1.services.create(
        friendly_name="Support",
        inbound_request_url="https://example.com/in",
        inbound_method="GET",
        status_callback="https://example.com/status",
        sticky_sender=False,
        smart_encoding=True,
        validity_period=600,
        scan_message_content="disable",
        usecase="notifications",
    )

    assert (created.inbound_request_url, created.inbound_method) == ("https://example.com/in", "GET")
    assert created.status_callback == "https://example.com/status"
    assert (created.sticky_sender, created.smart_encoding, created.validity_period) == (False, True, 600)
    assert (created.scan_message_content, created.usecase) == ("disable", "notifications")


@pytest.mark.parametrize(
    "fields",
    [
        {"friendly_name": ""},
        {"friendly_name": "x" * 65},
        {"friendly_name": "ok", "inbound_method": "PUT"},
        {"friendly_name": "ok", "validity_period": 0},
        {"friendly_name": "ok", "validity_period": 36001},
        {"friendly_name": "ok", "scan_message_content": "maybe"},
        {"friendly_name": "ok", "usecase": "x" * 65},  # wider than the column
        {"friendly_name": "ok", "usecase": "spam"},
        {"friendly_name": "ok", "inbound_request_url": "not a url"},
        {"friendly_name": "ok", "status_callback": "ftp://example.com/status"},
        {"friendly_name": "ok", "fallback_url": "/relative/path"},
        {"friendly_name": "ok", "fallback_url": "http://[::1/broken"},
    ],
)
def test_bad_settings_are_refused(client: Client, fields: dict[str, Any]) -> None:
    assert_twilio_error(lambda: client.messaging.v1.services.create(**fields), 20001, 400)


def test_create_without_a_name_is_refused(api: Api) -> None:
    response = api.post("/messaging/v1/Services", {"StickySender": "false"})
    assert (response.status_code, response.json()["code"]) == (400, 20001)


def test_update_changes_only_what_is_sent(client: Client) -> None:
    created = client.messaging.v1.services.create(friendly_name="Pool", inbound_request_url="https://example.com/a")
    context = client.messaging.v1.services(created.sid)

    updated = context.update(friendly_name="Renamed", area_code_geomatch=False, validity_period=1)
    fetched = context.fetch()

    for view in (updated, fetched):
        assert (view.friendly_name, view.area_code_geomatch, view.validity_period) == ("Renamed", False, 1)
        assert view.inbound_request_url == "https://example.com/a"
        assert view.sticky_sender is True


def test_an_empty_url_clears_it(client: Client) -> None:
    created = client.messaging.v1.services.create(friendly_name="Pool", status_callback="https://example.com/s")
    assert client.messaging.v1.services(created.sid).update(status_callback="").status_callback is None


def test_a_refused_update_changes_nothing(client: Client) -> None:
    created = client.messaging.v1.services.create(friendly_name="Pool")
    context = client.messaging.v1.services(created.sid)

    assert_twilio_error(lambda: context.update(friendly_name="New", fallback_method="DELETE"), 20001, 400)
    assert context.fetch().friendly_name == "Pool"


def test_services_list_across_pages(client: Client, api: Api) -> None:
    created = [client.messaging.v1.services.create(friendly_name=f"Pool {n}").sid for n in range(5)]
    expected = [default_messaging_service_sid(client), *created]

    listed = [s.sid for s in client.messaging.v1.services.list(page_size=2)]
    streamed = [s.sid for s in client.messaging.v1.services.stream(page_size=2, limit=5)]
    pages = walk_pages(api, "/messaging/v1/Services", "services")

    assert listed == expected
    assert streamed == expected[:5]
    assert pages == [expected[0:2], expected[2:4], expected[4:6]]


def test_unknown_services_are_a_404(client: Client, api: Api) -> None:
    for call in (
        client.messaging.v1.services("MG" + "0" * 32).fetch,
        lambda: client.messaging.v1.services("MG" + "0" * 32).update(friendly_name="x"),
        client.messaging.v1.services("MG" + "0" * 32).delete,
        client.messaging.v1.services("nonsense").fetch,
    ):
        assert_twilio_error(call, 20404, 404)
    response = api.get("/messaging/v1/Services/MG%00")
    assert (response.status_code, response.json()["code"]) == (404, 20404)


def test_delete_a_service_and_its_pool(client: Client) -> None:
    created = client.messaging.v1.services.create(friendly_name="Temporary")
    client.messaging.v1.services(created.sid).phone_numbers.create(phone_number_sid="+12015550100")

    assert client.messaging.v1.services(created.sid).delete() is True

    assert_twilio_error(client.messaging.v1.services(created.sid).fetch, 20404, 404)
    # Its sender went with it: the address is free for another pool.
    default_pool = client.messaging.v1.services(default_messaging_service_sid(client))
    assert default_pool.phone_numbers.create(phone_number_sid="+12015550100").phone_number == "+12015550100"


def test_the_default_messaging_service_cannot_be_deleted(client: Client) -> None:
    default_sid = default_messaging_service_sid(client)

    assert_twilio_error(client.messaging.v1.services(default_sid).delete, 20001, 400)
    assert client.messaging.v1.services(default_sid).fetch().sid == default_sid


def test_a_former_default_messaging_service_can_be_deleted(client: Client) -> None:
    old_default = default_messaging_service_sid(client)
    replacement = client.messaging.v1.services.create(friendly_name="New default")
    client.conversations.v1.configuration().update(default_messaging_service_sid=replacement.sid)

    assert client.messaging.v1.services(old_default).delete() is True


# --- sender pool ----------------------------------------------------------------------------------------


def test_add_an_sms_and_a_whatsapp_sender_by_address_in_phone_number_sid(client: Client) -> None:
    pool_sid = default_messaging_service_sid(client)
    pool = client.messaging.v1.services(pool_sid)

    sms = pool.phone_numbers.create(phone_number_sid="+12015550100")
    whatsapp = pool.phone_numbers.create(phone_number_sid="whatsapp:+12015550102")

    assert sms.sid.startswith("PN") and sms.service_sid == pool_sid
    assert (sms.phone_number, sms.country_code, sms.capabilities) == ("+12015550100", "US", ["SMS", "MMS"])
    assert (whatsapp.phone_number, whatsapp.capabilities) == ("whatsapp:+12015550102", ["WHATSAPP"])
    assert sms.url.endswith(f"/PhoneNumbers/{sms.sid}")


def test_add_a_sender_with_the_raw_phone_number_parameter(client: Client, api: Api) -> None:
    pool_sid = default_messaging_service_sid(client)

    response = api.post(f"/messaging/v1/Services/{pool_sid}/PhoneNumbers", {"PhoneNumber": "+44 20 7946 0018"})

    assert response.status_code == 201
    assert (response.json()["phone_number"], response.json()["country_code"]) == ("+442079460018", "GB")


def test_the_sender_pool_fixture_fills_the_default_pool(client: Client, sender_pool: dict[str, str]) -> None:
    pool = client.messaging.v1.services(default_messaging_service_sid(client))
    assert sorted(p.phone_number for p in pool.phone_numbers.list()) == sorted(sender_pool.values())


def test_an_address_belongs_to_one_pool_only(client: Client) -> None:
    first = client.messaging.v1.services(default_messaging_service_sid(client))
    second = client.messaging.v1.services(client.messaging.v1.services.create(friendly_name="Second").sid)
    first.phone_numbers.create(phone_number_sid="+12015550100")

    # Twilio's two codes: already in this pool, and held by another pool.
    assert_twilio_error(lambda: first.phone_numbers.create(phone_number_sid="+1 (201) 555-0100"), 21710, 409)
    assert_twilio_error(lambda: second.phone_numbers.create(phone_number_sid="+12015550100"), 21712, 409)
    assert second.phone_numbers.list() == []


def test_two_pools_racing_for_one_address(api: Api, client: Client) -> None:
    pools = [default_messaging_service_sid(client), client.messaging.v1.services.create(friendly_name="B").sid]

    responses = post_concurrently(
        api, [(f"/messaging/v1/Services/{sid}/PhoneNumbers", {"PhoneNumber": "+12015550100"}) for sid in pools]
    )

    assert sorted(r.status_code for r in responses) == [201, 409]
    assert [r.json()["code"] for r in responses if r.status_code == 409] == [21712]
    held = [len(client.messaging.v1.services(sid).phone_numbers.list()) for sid in pools]
    assert sorted(held) == [0, 1]


def test_the_sms_and_whatsapp_senders_of_one_number_are_distinct(client: Client) -> None:
    pool = client.messaging.v1.services(default_messaging_service_sid(client))
    pool.phone_numbers.create(phone_number_sid="+12015550100")
    assert pool.phone_numbers.create(phone_number_sid="whatsapp:+12015550100").capabilities == ["WHATSAPP"]


@pytest.mark.parametrize(
    "address", ["2015550100", "PN" + "0" * 32, "+1 201 555 0100 x9", "sms:+12015550100", "+1-800-FLOWERS", "12345"]
)
def test_bad_sender_addresses_are_refused(client: Client, address: str) -> None:
    pool = client.messaging.v1.services(default_messaging_service_sid(client))
    assert_twilio_error(lambda: pool.phone_numbers.create(phone_number_sid=address), 21421, 400)


def test_a_sender_needs_an_address(api: Api, client: Client) -> None:
    pool_sid = default_messaging_service_sid(client)
    response = api.post(f"/messaging/v1/Services/{pool_sid}/PhoneNumbers", {})
    assert (response.status_code, response.json()["code"]) == (400, 20001)


def test_a_sender_for_an_unknown_pool_is_a_404(client: Client) -> None:
    assert_twilio_error(
        lambda: client.messaging.v1.services("MG" + "0" * 32).phone_numbers.create(phone_number_sid="+12015550100"),
        20404,
        404,
    )


def test_fetch_and_delete_a_sender(client: Client) -> None:
    pool = client.messaging.v1.services(default_messaging_service_sid(client))
    sender = pool.phone_numbers.create(phone_number_sid="+12015550100")

    assert pool.phone_numbers(sender.sid).fetch().phone_number == "+12015550100"
    assert pool.phone_numbers(sender.sid).delete() is True

    for call in (pool.phone_numbers(sender.sid).fetch, pool.phone_numbers(sender.sid).delete):
        assert_twilio_error(call, 20404, 404)
    assert pool.phone_numbers.list() == []


def test_a_sender_is_found_only_in_its_own_pool(client: Client) -> None:
    pool = client.messaging.v1.services(default_messaging_service_sid(client))
    other = client.messaging.v1.services(client.messaging.v1.services.create(friendly_name="Other").sid)
    sender = pool.phone_numbers.create(phone_number_sid="+12015550100")

    for call in (other.phone_numbers(sender.sid).fetch, other.phone_numbers(sender.sid).delete):
        assert_twilio_error(call, 20404, 404)
    assert pool.phone_numbers(sender.sid).fetch().sid == sender.sid


def test_unknown_sender_paths_are_a_404(api: Api, client: Client) -> None:
    pool_sid = default_messaging_service_sid(client)
    for junk in ("PN" + "0" * 32, "nonsense", "PN%00"):
        response = api.get(f"/messaging/v1/Services/{pool_sid}/PhoneNumbers/{junk}")
        assert (response.status_code, response.json()["code"]) == (404, 20404), junk


def test_senders_list_across_pages(client: Client, api: Api) -> None:
    pool_sid = default_messaging_service_sid(client)
    pool = client.messaging.v1.services(pool_sid)
    created = [pool.phone_numbers.create(phone_number_sid=f"+1201555010{n}").sid for n in range(5)]

    listed = [p.sid for p in pool.phone_numbers.list(page_size=2)]
    streamed = [p.sid for p in pool.phone_numbers.stream(page_size=2, limit=4)]
    pages = walk_pages(api, f"/messaging/v1/Services/{pool_sid}/PhoneNumbers", "phone_numbers")

    assert listed == created
    assert streamed == created[:4]
    assert pages == [created[0:2], created[2:4], created[4:5]]

"""Webhook configuration through twilio-python: the account's and each service's pre- and post-event settings
(`/v1/Configuration/Webhooks`, `/v1/Services/{IS}/Configuration/Webhooks`)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from twilio.rest import Client

from bridge.hooks import configuration as hooks
from bridge.models import ConversationService, WebhookSettings
from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_error_body, assert_twilio_error, post_concurrently
from tests.support.live import LiveBridge

PRE, POST = "https://hooks.example.com/pre", "https://hooks.example.com/post?tenant=a&x=%20y"

# --- the account's settings --------------------------------------------------------------------------------


def test_the_account_settings_read_before_any_write_are_empty(client: Client, live: LiveBridge) -> None:
    fetched = client.conversations.v1.configuration.webhooks().fetch()

    assert (fetched.pre_webhook_url, fetched.post_webhook_url, fetched.filters) == (None, None, [])
    assert (fetched.method, fetched.target) == ("POST", "webhook")
    assert fetched.account_sid == live.account_sid
    assert fetched.url == f"{live.settings.public_base_url}/v1/Configuration/Webhooks"
    assert _settings_rows(live) == 0  # reading creates nothing


def test_the_account_settings_round_trip(client: Client) -> None:
    filters = ["onMessageAdd", "onMessageAdded", "onConversationStateUpdated", "onUserUpdated"]
    updated = client.conversations.v1.configuration.webhooks().update(
        pre_webhook_url=PRE, post_webhook_url=POST, filters=filters, method="POST", target="webhook"
    )
    fetched = client.conversations.v1.configuration.webhooks().fetch()

    for found in (updated, fetched):
        assert (found.pre_webhook_url, found.post_webhook_url) == (PRE, POST)
        assert (found.filters, found.method, found.target) == (filters, "POST", "webhook")


def test_an_update_changes_only_what_it_names_and_an_empty_url_clears(client: Client) -> None:
    webhooks = client.conversations.v1.configuration.webhooks()
    webhooks.update(pre_webhook_url=PRE, post_webhook_url=POST, filters=["onMessageAdded"], method="GET")

    changed = webhooks.update(pre_webhook_url="", target="flex")

    assert (changed.pre_webhook_url, changed.post_webhook_url) == (None, POST)
    assert (changed.filters, changed.method, changed.target) == (["onMessageAdded"], "GET", "flex")


def test_every_event_is_an_account_filter_each_kept_once_in_order(client: Client) -> None:
    events = list(reversed(hooks.ACCOUNT_FILTERS))
    assert len(events) == 23

    updated = client.conversations.v1.configuration.webhooks().update(filters=[*events, events[0]])

    assert updated.filters == events


def test_filters_sent_empty_are_cleared(client: Client, api: Api) -> None:
    client.conversations.v1.configuration.webhooks().update(filters=["onMessageAdded"])

    response = api.post("/v1/Configuration/Webhooks", {"Filters": ""})

    assert response.status_code == 200, response.text
    assert client.conversations.v1.configuration.webhooks().fetch().filters == []


def test_the_method_is_case_insensitive(client: Client) -> None:
    assert client.conversations.v1.configuration.webhooks().update(method="get").method == "GET"


@pytest.mark.parametrize(
    "fields",
    [
        {"filters": ["onMessageSent"]},  # Programmable Chat's name, not Conversations'
        {"filters": ["onMessageAdded", "nonsense"]},
        {"method": "PUT"},
        {"target": "studio"},
        {"pre_webhook_url": "/relative/path"},
        {"post_webhook_url": "ftp://example.com/hook"},
        {"post_webhook_url": "https://exa mple.com/hook"},
    ],
)
def test_invalid_account_settings_are_refused_and_nothing_changes(
    client: Client, live: LiveBridge, fields: dict[str, Any]
) -> None:
    webhooks = client.conversations.v1.configuration.webhooks()
    webhooks.update(post_webhook_url=POST, filters=["onMessageAdded"])

    assert_twilio_error(lambda: webhooks.update(**{"pre_webhook_url": PRE, **fields}), 20001, 400)

    kept = webhooks.fetch()
    assert (kept.pre_webhook_url, kept.post_webhook_url, kept.filters) == (None, POST, ["onMessageAdded"])


def test_concurrent_first_writes_make_one_account_row(api: Api, live: LiveBridge) -> None:
    forms = [{"PostWebhookUrl": f"https://hooks.example.com/{n}"} for n in range(6)]
    responses = post_concurrently(api, [("/v1/Configuration/Webhooks", form) for form in forms])

    assert [r.status_code for r in responses] == [200] * 6
    assert _settings_rows(live) == 1
    assert api.get("/v1/Configuration/Webhooks").json()["post_webhook_url"] in {f["PostWebhookUrl"] for f in forms}


def test_the_account_configuration_links_its_webhooks(client: Client) -> None:
    configuration = client.conversations.v1.configuration().fetch()
    assert configuration.links["webhooks"] == client.conversations.v1.configuration.webhooks().fetch().url


# --- a service's settings ------------------------------------------------------------------------------------


def test_a_service_never_configured_answers_twilios_empty_settings(client: Client, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")

    fetched = client.conversations.v1.services(service.sid).configuration.webhooks().fetch()

    assert fetched.chat_service_sid == service.sid
    assert fetched.account_sid == live.account_sid
    assert (fetched.pre_webhook_url, fetched.post_webhook_url, fetched.filters, fetched.method) == (None,) * 4
    assert fetched.url == f"{live.settings.public_base_url}/v1/Services/{service.sid}/Configuration/Webhooks"
    assert _settings_rows(live) == 0


def test_a_services_settings_round_trip(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")
    webhooks = client.conversations.v1.services(service.sid).configuration.webhooks()
    filters = ["onParticipantAdded", "onMessageAdd", "onDeliveryUpdated"]

    updated = webhooks.update(pre_webhook_url=PRE, post_webhook_url=POST, filters=filters, method="GET")
    fetched = webhooks.fetch()

    for found in (updated, fetched):
        assert (found.pre_webhook_url, found.post_webhook_url) == (PRE, POST)
        assert (found.filters, found.method) == (filters, "GET")


def test_every_non_user_event_is_a_service_filter_and_user_events_are_not(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")
    webhooks = client.conversations.v1.services(service.sid).configuration.webhooks()

    assert webhooks.update(filters=list(hooks.SERVICE_FILTERS)).filters == list(hooks.SERVICE_FILTERS)
    assert len(hooks.SERVICE_FILTERS) == 20
    for user_event in ("onUserAdded", "onUserUpdate", "onUserUpdated"):
        assert_twilio_error(lambda event=user_event: webhooks.update(filters=[event]), 20001, 400)


def test_a_services_retry_counts(api: Api) -> None:
    service = api.post("/v1/Services", {"FriendlyName": "Tenant"}).json()["sid"]
    path = f"/v1/Services/{service}/Configuration/Webhooks"

    assert api.get(path).json()["pre_webhook_retry_count"] == 0
    updated = api.post(path, {"PreWebhookRetryCount": "3", "PostWebhookRetryCount": "1"})

    assert updated.status_code == 200, updated.text
    assert (updated.json()["pre_webhook_retry_count"], updated.json()["post_webhook_retry_count"]) == (3, 1)
    for bad in ("4", "-1", "two", ""):
        assert_error_body(api.post(path, {"PostWebhookRetryCount": bad}), hooks.INVALID_RETRY_COUNT, 400)
    assert api.get(path).json()["post_webhook_retry_count"] == 1


def test_services_keep_their_own_settings(client: Client) -> None:
    first = client.conversations.v1.services.create(friendly_name="First")
    second = client.conversations.v1.services.create(friendly_name="Second")
    client.conversations.v1.services(first.sid).configuration.webhooks().update(post_webhook_url=POST)
    client.conversations.v1.configuration.webhooks().update(post_webhook_url=PRE)

    other = client.conversations.v1.services(second.sid).configuration.webhooks().fetch()

    assert other.post_webhook_url is None
    assert client.conversations.v1.services(first.sid).configuration.webhooks().fetch().post_webhook_url == POST


def test_an_unknown_service_has_no_settings(client: Client) -> None:
    unknown = client.conversations.v1.services("IS" + "0" * 32).configuration.webhooks()
    assert_twilio_error(unknown.fetch, 20404, 404)
    assert_twilio_error(lambda: unknown.update(post_webhook_url=POST), 20404, 404)


def test_concurrent_first_writes_make_one_row_per_service(api: Api, live: LiveBridge) -> None:
    service = api.post("/v1/Services", {"FriendlyName": "Tenant"}).json()["sid"]
    path = f"/v1/Services/{service}/Configuration/Webhooks"

    responses = post_concurrently(api, [(path, {"Method": "GET"})] * 6)

    assert [r.status_code for r in responses] == [200] * 6
    assert _settings_rows(live) == 1


def test_deleting_a_service_deletes_its_settings(client: Client, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Short-lived")
    client.conversations.v1.services(service.sid).configuration.webhooks().update(post_webhook_url=POST)
    assert _settings_rows(live) == 1

    client.conversations.v1.services(service.sid).delete()

    assert _settings_rows(live) == 0


def test_the_service_configuration_links_its_webhooks(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")
    configuration = client.conversations.v1.services(service.sid).configuration().fetch()
    assert configuration.links["webhooks"] == configuration.url + "/Webhooks"


# --- which settings apply ------------------------------------------------------------------------------------


def test_the_account_settings_apply_until_a_service_names_a_url_of_its_own(client: Client, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")
    assert _effective(live, service.sid) is None  # nothing written anywhere

    client.conversations.v1.configuration.webhooks().update(post_webhook_url=POST, filters=["onMessageAdded"])
    assert _effective(live, service.sid) == (None, POST, ["onMessageAdded"])

    own = client.conversations.v1.services(service.sid).configuration.webhooks()
    own.update(filters=["onParticipantAdded"])  # filters alone do not make the service's hooks fire
    assert _effective(live, service.sid) == (None, POST, ["onMessageAdded"])

    own.update(pre_webhook_url=PRE)
    assert _effective(live, service.sid) == (PRE, None, ["onParticipantAdded"])

    own.update(pre_webhook_url="")
    assert _effective(live, service.sid) == (None, POST, ["onMessageAdded"])


# --- helpers -----------------------------------------------------------------------------------------------


def _settings_rows(live: LiveBridge) -> int:
    with live.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(WebhookSettings)) or 0


def _effective(live: LiveBridge, service_sid: str) -> tuple[str | None, str | None, list[str]] | None:
    with live.database.transaction() as session:
        service = session.scalars(select(ConversationService).where(ConversationService.sid == service_sid)).one()
        found = hooks.effective_settings(session, service)
        return None if found is None else (found.pre_webhook_url, found.post_webhook_url, list(found.filters))

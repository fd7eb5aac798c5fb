"""Webhook configuration through twilio-python: the account's and each service's pre- and post-event settings
(`/v1/Configuration/Webhooks`, `/v1/Services/{IS}/Configuration/Webhooks`) and conversation-scoped webhooks
(`/Conversations/{CH}/Webhooks`, on default-service and service paths)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from twilio.rest import Client

from bridge.hooks import configuration as hooks
from bridge.hooks import targets
from bridge.models import Conversation, ConversationService, ConversationWebhook, WebhookSettings
from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_error_body, assert_twilio_error, post_concurrently, walk_pages
from tests.support.live import LiveBridge

PRE, POST = "https://hooks.example.com/pre", "https://hooks.example.com/post?tenant=a&x=%20y"
FLOW = "FW" + "1" * 32

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


# --- conversation-scoped webhooks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a conversation's webhooks are reached: default-service paths, or a service's own."""

    client: Client
    service_sid: str | None

    def conversations(self) -> Any:
        v1 = self.client.conversations.v1
        return v1.conversations if self.service_sid is None else v1.services(self.service_sid).conversations

    def webhooks(self, conversation: str) -> Any:
        return self.conversations()(conversation).webhooks

    def prefix(self) -> str:
        return "/v1" if self.service_sid is None else f"/v1/Services/{self.service_sid}"


@pytest.fixture(params=["default service", "service"])
def place(request: pytest.FixtureRequest, client: Client) -> Place:
    if request.param == "default service":
        return Place(client, None)
    return Place(client, client.conversations.v1.services.create(friendly_name="Tenant").sid)


@pytest.fixture
def conversation(place: Place) -> Any:
    return place.conversations().create(friendly_name="Support", unique_name="ticket-7")


def test_create_a_webhook_and_read_it_back_everywhere(place: Place, conversation: Any, live: LiveBridge) -> None:
    created = place.webhooks(conversation.sid).create(
        target="webhook",
        configuration_url=POST,
        configuration_method="POST",
        configuration_filters=["onMessageAdded", "onParticipantRemoved"],
    )

    expected = {"url": POST, "method": "post", "filters": ["onMessageAdded", "onParticipantRemoved"]}
    assert created.sid.startswith("WH") and len(created.sid) == 34
    assert (created.target, created.configuration) == ("webhook", expected)
    assert (created.account_sid, created.conversation_sid) == (live.account_sid, conversation.sid)
    base = live.settings.public_base_url + place.prefix()
    assert created.url == f"{base}/Conversations/{conversation.sid}/Webhooks/{created.sid}"
    assert created.date_created is not None and created.date_updated is not None
    fetched = place.webhooks(conversation.sid)(created.sid).fetch()
    listed = place.webhooks("ticket-7").list()  # the conversation by its unique name, as elsewhere
    assert [(w.sid, w.target, w.configuration) for w in (fetched, *listed)] == [(created.sid, "webhook", expected)] * 2
    assert conversation.links["webhooks"] == f"{base}/Conversations/{conversation.sid}/Webhooks"


def test_service_paths_name_the_service(client: Client, api: Api) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant").sid
    conversation = client.conversations.v1.services(service).conversations.create().sid
    form = {"Target": "webhook", "Configuration.Url": POST, "Configuration.Filters": "onMessageAdded"}

    scoped = api.post(f"/v1/Services/{service}/Conversations/{conversation}/Webhooks", form).json()
    default_conversation = client.conversations.v1.conversations.create().sid
    default = api.post(f"/v1/Conversations/{default_conversation}/Webhooks", form).json()

    assert scoped["chat_service_sid"] == service
    assert "chat_service_sid" not in default  # Twilio's default-path representation has none


def test_the_method_defaults_to_post_and_is_lower_case(place: Place, conversation: Any) -> None:
    webhooks = place.webhooks(conversation.sid)
    default = webhooks.create(target="webhook", configuration_url=POST, configuration_filters=["onMessageAdded"])
    chosen = webhooks.create(
        target="WebHook", configuration_url=POST, configuration_method="GET", configuration_filters=["onMessageAdded"]
    )

    assert (default.configuration["method"], chosen.configuration["method"]) == ("post", "get")
    assert chosen.target == "webhook"


def test_a_trigger_lists_its_keywords_as_filters(place: Place, conversation: Any) -> None:
    keywords = ["help", "Agent please", "x" * hooks.TRIGGER_LIMIT]
    created = place.webhooks(conversation.sid).create(
        target="trigger", configuration_url=PRE, configuration_method="get", configuration_triggers=keywords
    )

    assert created.configuration == {"url": PRE, "method": "get", "filters": keywords}


def test_a_studio_flow_shows_its_sid_and_the_url_when_one_is_given(place: Place, conversation: Any) -> None:
    webhooks = place.webhooks(conversation.sid)
    flow_only = webhooks.create(target="studio", configuration_flow_sid=FLOW)
    with_url = webhooks.create(
        target="studio", configuration_flow_sid=FLOW, configuration_url=POST, configuration_filters=["onMessageAdded"]
    )

    assert flow_only.configuration == {"flow_sid": FLOW}
    assert with_url.configuration == {"flow_sid": FLOW, "url": POST, "method": "post", "filters": ["onMessageAdded"]}


def test_replay_after_is_kept_for_the_sender(place: Place, conversation: Any, live: LiveBridge) -> None:
    created = place.webhooks(conversation.sid).create(
        target="webhook", configuration_url=POST, configuration_filters=["onMessageAdded"], configuration_replay_after=7
    )

    stored = _stored_webhooks(live, conversation.sid)
    assert [(w.sid, w.replay_after, w.url, w.method, w.filters) for w in stored] == [
        (created.sid, 7, POST, "post", ["onMessageAdded"])
    ]


def test_update_changes_what_it_names(place: Place, conversation: Any) -> None:
    webhooks = place.webhooks(conversation.sid)
    created = webhooks.create(target="webhook", configuration_url=POST, configuration_filters=["onMessageAdded"])

    updated = webhooks(created.sid).update(configuration_method="get", configuration_filters=["onMessageRemoved"])
    moved = webhooks(created.sid).update(configuration_url=PRE)

    assert updated.configuration == {"url": POST, "method": "get", "filters": ["onMessageRemoved"]}
    assert moved.configuration == {"url": PRE, "method": "get", "filters": ["onMessageRemoved"]}
    assert webhooks(created.sid).fetch().configuration == moved.configuration
    assert moved.target == "webhook"


def test_update_a_trigger_and_a_flow(place: Place, conversation: Any) -> None:
    webhooks = place.webhooks(conversation.sid)
    trigger = webhooks.create(target="trigger", configuration_url=POST, configuration_triggers=["help"])
    flow = webhooks.create(target="studio", configuration_flow_sid=FLOW, configuration_url=POST)
    other_flow = "FW" + "2" * 32

    trigger = webhooks(trigger.sid).update(configuration_triggers=["stop", "agent"])
    flow = webhooks(flow.sid).update(configuration_flow_sid=other_flow, configuration_url="")

    assert trigger.configuration == {"url": POST, "method": "post", "filters": ["stop", "agent"]}
    assert flow.configuration == {"flow_sid": other_flow}


def test_update_keeps_the_target_and_replay_after(place: Place, conversation: Any, api: Api, live: LiveBridge) -> None:
    created = place.webhooks(conversation.sid).create(
        target="webhook", configuration_url=POST, configuration_filters=["onMessageAdded"], configuration_replay_after=3
    )
    path = f"{place.prefix()}/Conversations/{conversation.sid}/Webhooks/{created.sid}"

    response = api.post(path, {"Target": "studio", "Configuration.ReplayAfter": "9"})

    assert response.status_code == 200, response.text
    assert response.json()["target"] == "webhook"
    assert [w.replay_after for w in _stored_webhooks(live, conversation.sid)] == [3]


def test_delete_a_webhook(place: Place, conversation: Any) -> None:
    webhooks = place.webhooks(conversation.sid)
    kept = webhooks.create(target="studio", configuration_flow_sid=FLOW)
    gone = webhooks.create(target="webhook", configuration_url=POST, configuration_filters=["onMessageAdded"])

    assert webhooks(gone.sid).delete() is True

    assert [w.sid for w in webhooks.list()] == [kept.sid]
    assert_twilio_error(webhooks(gone.sid).fetch, hooks.WEBHOOK_NOT_FOUND, 404)
    assert_twilio_error(webhooks(gone.sid).delete, hooks.WEBHOOK_NOT_FOUND, 404)


def test_at_most_five_webhooks_per_conversation(place: Place, conversation: Any) -> None:
    webhooks = place.webhooks(conversation.sid)
    made = [webhooks.create(target="studio", configuration_flow_sid=FLOW) for _ in range(5)]

    assert_twilio_error(
        lambda: webhooks.create(target="studio", configuration_flow_sid=FLOW), hooks.TOO_MANY_WEBHOOKS, 400
    )
    webhooks(made[0].sid).delete()
    webhooks.create(target="studio", configuration_flow_sid=FLOW)  # room again
    assert len(webhooks.list()) == 5


def test_concurrent_creates_stop_at_five(place: Place, conversation: Any, api: Api) -> None:
    path = f"{place.prefix()}/Conversations/{conversation.sid}/Webhooks"
    form = {"Target": "studio", "Configuration.FlowSid": FLOW}

    responses = post_concurrently(api, [(path, form)] * 8)

    assert sorted(r.status_code for r in responses) == [201] * 5 + [400] * 3
    assert {r.json()["code"] for r in responses if r.status_code == 400} == {hooks.TOO_MANY_WEBHOOKS}
    assert len(place.webhooks(conversation.sid).list()) == 5


def test_the_list_pages_by_five_at_most(place: Place, conversation: Any, api: Api) -> None:
    webhooks = place.webhooks(conversation.sid)
    made = [webhooks.create(target="studio", configuration_flow_sid=FLOW).sid for _ in range(5)]
    path = f"{place.prefix()}/Conversations/{conversation.sid}/Webhooks"

    first = api.get(path).json()
    pages = walk_pages(api, path, "webhooks", page_size=2)

    assert (first["meta"]["page_size"], [w["sid"] for w in first["webhooks"]]) == (5, made)
    assert [sid for page in pages for sid in page] == made
    assert_error_body(api.get(path, params={"PageSize": "6"}), 20001, 400)


def test_deleting_the_conversation_deletes_its_webhooks(place: Place, conversation: Any, live: LiveBridge) -> None:
    webhooks = place.webhooks(conversation.sid)
    webhooks.create(target="studio", configuration_flow_sid=FLOW)
    webhooks.create(target="webhook", configuration_url=POST, configuration_filters=["onMessageAdded"])
    other = place.conversations().create(friendly_name="Other")
    kept = place.webhooks(other.sid).create(target="studio", configuration_flow_sid=FLOW)

    place.conversations()(conversation.sid).delete()

    with live.database.transaction() as session:
        left = session.scalars(select(ConversationWebhook.sid)).all()
    assert left == [kept.sid]
    assert_twilio_error(lambda: webhooks.create(target="studio", configuration_flow_sid=FLOW), 20404, 404)


def test_a_webhook_belongs_to_its_conversation(place: Place, conversation: Any) -> None:
    other = place.conversations().create(friendly_name="Other")
    created = place.webhooks(other.sid).create(target="studio", configuration_flow_sid=FLOW)

    assert_twilio_error(place.webhooks(conversation.sid)(created.sid).fetch, hooks.WEBHOOK_NOT_FOUND, 404)
    assert_twilio_error(
        lambda: place.webhooks(conversation.sid)(created.sid).update(configuration_url=POST),
        hooks.WEBHOOK_NOT_FOUND,
        404,
    )
    assert place.webhooks(other.sid)(created.sid).fetch().sid == created.sid


@pytest.mark.parametrize("sid", ["WH123", "MB" + "0" * 32, "not-a-sid"])
def test_a_malformed_webhook_sid_is_refused(place: Place, conversation: Any, sid: str) -> None:
    webhook = place.webhooks(conversation.sid)(sid)
    for call in (webhook.fetch, lambda: webhook.update(configuration_url=POST), webhook.delete):
        assert_twilio_error(call, hooks.INVALID_WEBHOOK_SID, 400)


LONG_URL = "https://hooks.example.com/".ljust(hooks.CONVERSATION_WEBHOOK_URL_LIMIT, "a")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"target": ""}, hooks.TARGET_MISSING),
        ({"target": "flex"}, hooks.INVALID_TARGET),
        ({"target": "webhook", "configuration_filters": ["onMessageAdded"]}, hooks.URL_MISSING),
        ({"target": "trigger", "configuration_triggers": ["help"]}, hooks.URL_MISSING),
        ({"target": "webhook", "configuration_url": POST}, hooks.FILTERS_MISSING),
        ({"target": "webhook", "configuration_url": POST, "configuration_filters": ["onMessageSent"]}, 50365),
        ({"target": "webhook", "configuration_url": POST, "configuration_filters": ["onMessageAdd"]}, 50365),
        ({"target": "webhook", "configuration_url": POST, "configuration_filters": ["onUserAdded"]}, 50365),
        ({"target": "trigger", "configuration_url": POST}, hooks.TRIGGERS_MISSING),
        ({"target": "trigger", "configuration_url": POST, "configuration_triggers": ["a", ""]}, 50366),
        ({"target": "trigger", "configuration_url": POST, "configuration_triggers": ["x" * 249]}, 50366),
        ({"target": "trigger", "configuration_url": POST, "configuration_triggers": list("abcdef")}, 50362),
        ({"target": "studio"}, hooks.INVALID_FLOW_SID),
        ({"target": "studio", "configuration_flow_sid": "FW123"}, hooks.INVALID_FLOW_SID),
        ({"target": "studio", "configuration_flow_sid": FLOW, "configuration_filters": ["nope"]}, 50365),
        (
            {"target": "webhook", "configuration_url": LONG_URL + "a", "configuration_filters": ["onMessageAdded"]},
            hooks.URL_TOO_LONG,
        ),
        ({"target": "webhook", "configuration_url": "/hook", "configuration_filters": ["onMessageAdded"]}, 20001),
        ({"target": "studio", "configuration_flow_sid": FLOW, "configuration_url": "mailto:a@b.c"}, 20001),
        ({"target": "studio", "configuration_flow_sid": FLOW, "configuration_method": "put"}, 20001),
        ({"target": "studio", "configuration_flow_sid": FLOW, "configuration_replay_after": -1}, 20001),
    ],
)
def test_invalid_webhooks_are_refused_with_twilios_codes(
    place: Place, conversation: Any, live: LiveBridge, fields: dict[str, Any], code: int
) -> None:
    assert_twilio_error(lambda: place.webhooks(conversation.sid).create(**fields), code, 400)
    assert _stored_webhooks(live, conversation.sid) == []


def test_a_url_of_512_characters_is_accepted(place: Place, conversation: Any) -> None:
    assert len(LONG_URL) == hooks.CONVERSATION_WEBHOOK_URL_LIMIT
    created = place.webhooks(conversation.sid).create(
        target="webhook", configuration_url=LONG_URL, configuration_filters=["onMessageAdded"]
    )
    assert created.configuration["url"] == LONG_URL


@pytest.mark.parametrize(
    ("target", "create", "change", "code"),
    [
        ("webhook", {"configuration_filters": ["onMessageAdded"]}, {"configuration_url": ""}, hooks.URL_MISSING),
        ("webhook", {"configuration_filters": ["onMessageAdded"]}, {"configuration_filters": ["x"]}, 50365),
        ("trigger", {"configuration_triggers": ["help"]}, {"configuration_url": ""}, hooks.URL_MISSING),
        ("trigger", {"configuration_triggers": ["help"]}, {"configuration_triggers": list("abcdef")}, 50362),
        ("trigger", {"configuration_triggers": ["help"]}, {"configuration_triggers": [""]}, 50366),
        ("studio", {"configuration_flow_sid": FLOW}, {"configuration_flow_sid": "FW1"}, hooks.INVALID_FLOW_SID),
        ("studio", {"configuration_flow_sid": FLOW}, {"configuration_method": "delete"}, 20001),
    ],
)
def test_invalid_updates_are_refused_and_change_nothing(
    place: Place, conversation: Any, target: str, create: dict[str, Any], change: dict[str, Any], code: int
) -> None:
    webhooks = place.webhooks(conversation.sid)
    created = webhooks.create(target=target, configuration_url=POST, **create)

    assert_twilio_error(lambda: webhooks(created.sid).update(**change), code, 400)

    assert webhooks(created.sid).fetch().configuration == created.configuration


def test_an_unknown_conversation_has_no_webhooks(place: Place) -> None:
    webhooks = place.webhooks("CH" + "0" * 32)
    assert_twilio_error(lambda: webhooks.create(target="studio", configuration_flow_sid=FLOW), 20404, 404)
    assert_twilio_error(webhooks("WH" + "0" * 32).fetch, 20404, 404)


# --- helpers -----------------------------------------------------------------------------------------------


def _settings_rows(live: LiveBridge) -> int:
    with live.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(WebhookSettings)) or 0


def _stored_webhooks(live: LiveBridge, conversation_sid: str) -> list[ConversationWebhook]:
    with live.database.transaction() as session:
        conversation_id = session.scalar(select(Conversation.id).where(Conversation.sid == conversation_sid))
        query = select(ConversationWebhook).where(ConversationWebhook.conversation_id == conversation_id)
        return list(session.scalars(query.order_by(ConversationWebhook.id)))


def _effective(live: LiveBridge, service_sid: str) -> tuple[str | None, str | None, list[str]] | None:
    with live.database.transaction() as session:
        service = session.scalars(select(ConversationService).where(ConversationService.sid == service_sid)).one()
        chosen = targets.effective_settings(*targets.load_settings(session, service.id))
        found = chosen[1] if chosen is not None else None
        return None if found is None else (found.pre_webhook_url, found.post_webhook_url, list(found.filters))

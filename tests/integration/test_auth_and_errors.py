"""The HTTP edge: credentials, and every refusal as Twilio's JSON error with the right status (never a 500)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import pytest
import requests
from twilio.rest import Client

from bridge import accounts
from bridge.client import bridge_client
from bridge.paging import encode_token
from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_twilio_error
from tests.support.live import LiveBridge

WRONG_SID = "AC" + "f" * 32


def assert_error(response: requests.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


def api_key(live: LiveBridge) -> tuple[str, str]:
    with live.database.transaction() as session:
        key = accounts.create_api_key(session, "tests")
        return key.sid, key.secret


# --- credentials ----------------------------------------------------------------------------------------


def test_an_api_key_drives_the_twilio_client(live: LiveBridge) -> None:
    key_sid, secret = api_key(live)
    client = bridge_client(live.url, key_sid, secret, account_sid=live.account_sid)

    created = client.conversations.v1.services.create(friendly_name="Via key")

    assert client.conversations.v1.services(created.sid).fetch().account_sid == live.account_sid
    assert len(client.messaging.v1.services.list()) == 1


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda live, key: (live.account_sid, "wrong-token-0123456789"), id="wrong-token"),
        pytest.param(lambda live, key: (WRONG_SID, live.auth_token), id="wrong-account"),
        pytest.param(lambda live, key: (live.account_sid, live.auth_token + "x"), id="token-prefix"),
        pytest.param(lambda live, key: (live.account_sid, live.auth_token[:-1]), id="token-truncated"),
        pytest.param(lambda live, key: (key[0], key[1] + "x"), id="key-wrong-secret"),
        pytest.param(lambda live, key: (key[0], live.auth_token), id="key-with-account-token"),
        pytest.param(lambda live, key: ("SK" + "0" * 32, key[1]), id="unknown-key"),
        pytest.param(lambda live, key: ("SKnot-a-sid", key[1]), id="malformed-key"),
        pytest.param(lambda live, key: (live.account_sid, ""), id="empty-token"),
    ],
)
def test_wrong_credentials_are_a_401(
    live: LiveBridge, credentials: Callable[[LiveBridge, tuple[str, str]], tuple[str, str]]
) -> None:
    username, password = credentials(live, api_key(live))
    client = bridge_client(live.url, username, password, account_sid=live.account_sid)

    for call in (
        client.conversations.v1.configuration().fetch,
        lambda: client.conversations.v1.services.create(friendly_name="nope"),
        client.messaging.v1.services("MG" + "0" * 32).fetch,
    ):
        assert_twilio_error(call, 20003, 401)
    assert [
        s.friendly_name
        for s in bridge_client(live.url, live.account_sid, live.auth_token).conversations.v1.services.list()
    ] == ["Default Conversations Service"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abc.def.ghi",
        "Basic not-base64!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Digest username=x",
    ],
)
def test_missing_or_malformed_credentials_are_a_401_with_a_challenge(
    live: LiveBridge, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for path in ("/v1/Services", "/messaging/v1/Services", "/v1/NoSuchThing"):
        response = requests.get(live.url + path, headers=headers, timeout=30)
        assert_error(response, 401, 20003)
        assert response.headers["WWW-Authenticate"].startswith("Basic")


# --- routing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/NoSuchThing", "/v1/Services/IS" + "0" * 32 + "/Nonsense", "/messaging/v1/Nope", "/v2/Conversations"]
)
def test_unknown_paths_are_a_json_404(api: Api, path: str) -> None:
    assert_error(api.get(path), 404, 20404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v1/Configuration"),
        ("PUT", "/v1/Services"),
        ("PATCH", "/v1/Roles"),
        ("POST", "/v1/Services/IS" + "0" * 32),  # services have no update
        ("DELETE", "/messaging/v1/Services"),
        ("POST", "/messaging/v1/Services/MG" + "0" * 32 + "/PhoneNumbers/PN" + "0" * 32),
    ],
)
def test_wrong_methods_are_a_json_405(api: Api, method: str, path: str) -> None:
    response = api.http.request(method, api.base + path, timeout=30)
    assert_error(response, 405, 20004)
    assert response.headers["Allow"]


# --- request bodies -------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_json_413(api: Api, live: LiveBridge) -> None:
    limit = live.settings.max_request_bytes
    assert limit == 1_048_576
    prefix = "FriendlyName="

    at_limit = api.post("/v1/Services", prefix + "x" * (limit - len(prefix)))
    over_limit = api.post("/v1/Services", prefix + "x" * (limit - len(prefix) + 1))

    # At the limit the body is read, and the name is refused for its length; one byte more is never read.
    assert_error(at_limit, 400, 20001)
    assert_error(over_limit, 413, 20001)
    assert str(limit) in over_limit.json()["message"]


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/v1/Services", {"FriendlyName": "nul\x00name"}),
        ("/v1/Roles", {"FriendlyName": "r", "Type": "service", "Permission": ["joinConversation", "x\x00"]}),
        ("/v1/Users", {"Identity": "a\x00b"}),
        ("/v1/Configuration", {"DefaultInactiveTimer": "PT5M\x00"}),
        ("/v1/Configuration/Addresses", {"Type": "sms", "Address": "+12015550100\x00"}),
        ("/messaging/v1/Services", {"FriendlyName": "pool\x00"}),
    ],
)
def test_a_nul_byte_in_a_form_value_is_a_400(api: Api, path: str, form: dict[str, object]) -> None:
    assert_error(api.post(path, form), 400, 20001)


def test_a_nul_byte_in_a_query_filter_is_a_400(api: Api) -> None:
    assert_error(api.get("/v1/Configuration/Addresses", params={"Type": "sms\x00"}), 400, 20001)


def test_a_json_body_is_not_read_as_form_parameters(api: Api) -> None:
    response = api.post(
        "/v1/Services", json.dumps({"FriendlyName": "json"}), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, 20001)


# --- paging parameters ----------------------------------------------------------------------------------

LIST_PATHS = [
    ("/v1/Services", 100),
    ("/v1/Roles", 50),
    ("/v1/Users", 50),
    ("/v1/Configuration/Addresses", 50),
    ("/messaging/v1/Services", 1000),
    ("/v1/Conversations", 100),  # another team's list, the same paging code
]


@pytest.mark.parametrize(("path", "maximum"), LIST_PATHS)
@pytest.mark.parametrize(
    "query",
    [
        {"PageSize": "0"},
        {"PageSize": "-1"},
        {"PageSize": "abc"},
        {"PageSize": "1e3"},
        {"PageSize": "9" * 5000},
        {"Page": "-1"},
        {"Page": "first"},
        {"PageToken": "garbage"},
        {"PageToken": "PT"},
        {"PageToken": "PT" + "W1s" * 50},
        {"PageToken": encode_token("after", 2**63)},  # past the integer keys: the database cannot compare
        {"PageToken": encode_token("sideways", 1)},
        {"PageToken": "PT\x00"},
    ],
)
def test_bad_paging_parameters_are_a_400(api: Api, path: str, maximum: int, query: dict[str, str]) -> None:
    assert_error(api.get(path, params=query), 400, 20001)


@pytest.mark.parametrize(("path", "maximum"), LIST_PATHS)
def test_page_size_is_bounded_by_each_list_maximum(api: Api, path: str, maximum: int) -> None:
    assert api.get(path, params={"PageSize": str(maximum)}).status_code == 200
    assert_error(api.get(path, params={"PageSize": str(maximum + 1)}), 400, 20001)


def test_a_token_past_the_end_is_an_empty_page(api: Api) -> None:
    response = api.get("/v1/Services", params={"PageToken": encode_token("after", 2**62)})
    assert response.status_code == 200
    assert response.json()["services"] == []
    assert response.json()["meta"]["next_page_url"] is None


def test_the_message_is_twilios_for_the_client(client: Client) -> None:
    error = assert_twilio_error(client.conversations.v1.services("IS" + "0" * 32).fetch, 20404, 404)
    assert error.msg.startswith("Unable to fetch record:")
    assert "not found" in error.msg


def test_a_chunked_body_over_the_limit_is_refused_whole_not_cut(live: LiveBridge) -> None:
    """Without Content-Length, Werkzeug would cut the body at the limit and parse what is left."""
    conversation = requests.post(f"{live.url}/v1/Conversations", auth=(live.account_sid, live.auth_token), timeout=10)
    messages = f"{live.url}/v1/Conversations/{conversation.json()['sid']}/Messages"

    def chunks(total: int) -> Iterator[bytes]:
        yield b"Body=hello&Attributes="
        for _ in range(total // 1000):
            yield b"x" * 1000

    too_big = requests.post(messages, data=chunks(1_100_000), auth=(live.account_sid, live.auth_token), timeout=30)
    assert too_big.status_code == 413 and too_big.json()["code"] == 20001
    small = requests.post(
        messages,
        data=iter([b"Body=chunked", b"+but+whole"]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(live.account_sid, live.auth_token),
        timeout=30,
    )
    assert small.status_code == 201 and small.json()["body"] == "chunked but whole"


def test_a_date_past_the_last_representable_instant_is_a_400(live: LiveBridge) -> None:
    response = requests.post(
        f"{live.url}/v1/Conversations",
        data={"DateCreated": "9999-12-31T23:59:59-01:00"},
        auth=(live.account_sid, live.auth_token),
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["code"] == 20001

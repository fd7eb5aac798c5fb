"""The exact inputs with which the fuzz suite broke the bridge, as regular tests against the live bridge. Each
failed (a 500, or a response that broke the contract) before its fix; the comment names the fix."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.fuzz.harness import Credentials
from tests.fuzz.seeds import CUSTOMER, SENDER, Seeds
from tests.support.live import LiveBridge

UNKNOWN_PAIR = {"From": "+14155550188", "To": SENDER}


@pytest.fixture
def credentials(bridge: LiveBridge) -> Credentials:
    return Credentials.of(bridge)


def api(bridge: LiveBridge, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, bridge.url + path, auth=(bridge.account_sid, bridge.auth_token), timeout=30, **kwargs
    )


def admin(bridge: LiveBridge, method: str, path: str, **kwargs: Any) -> requests.Response:
    auth = (bridge.settings.admin_username, bridge.settings.admin_password)
    return requests.request(method, bridge.url + path, auth=auth, timeout=30, **kwargs)


def webhook(bridge: LiveBridge, credentials: Credentials, path: str, form: dict[str, str]) -> requests.Response:
    """Signed as Twilio signs: the public URL and every field."""
    signature = RequestValidator(credentials.carrier_token).compute_signature(credentials.public_url + path, form)
    return requests.post(bridge.url + path, data=form, headers={"X-Twilio-Signature": signature}, timeout=30)


def assert_refused(response: requests.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["status"] == status


# --- bridge/timeutil.py: iso() wrote year 441 as "441", not Twilio's YYYY ----------------------------------------


def test_a_date_before_year_1000_is_written_with_four_digits(bridge: LiveBridge, seeds: Seeds) -> None:
    response = api(bridge, "POST", "/v1/Conversations", data={"DateCreated": "0441-02-28T16:12:15Z"})
    assert response.status_code == 201, response.text
    assert response.json()["date_created"] == "0441-02-28T16:12:15Z"
    assert bridge.checker.take() == []  # the strict date format of the suite's spec checker


# --- webhooks/carriers/twilio.py: the status callback's ErrorCode and MessageSid ----------------------------------


@pytest.mark.parametrize("code", ["\u00b2", "9" * 5000, "9" * 30])
def test_a_status_callback_with_an_unreadable_error_code_still_counts(
    bridge: LiveBridge, credentials: Credentials, seeds: Seeds, code: str
) -> None:
    # "²" passed isdigit() and failed int(); 5,000 digits failed int(); 30 digits overflowed the column: 500s.
    form = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "read", "ErrorCode": code}
    response = webhook(bridge, credentials, f"/webhooks/twilio/status/{seeds.receipt}", form)
    assert response.status_code == 200, response.text


def test_a_status_callback_with_an_overlong_message_sid_is_refused(
    bridge: LiveBridge, credentials: Credentials, seeds: Seeds
) -> None:
    # 65 characters did not fit the 64-character columns: a 500 on PostgreSQL (SQLite does not check widths).
    form = {"MessageSid": "*" * 65, "MessageStatus": "read"}
    assert_refused(webhook(bridge, credentials, f"/webhooks/twilio/status/{seeds.receipt}", form))


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/webhooks/twilio/inbound", {"MessageSid": "SM" + "1" * 32, **UNKNOWN_PAIR, "Body": "a\x00b"}),
        ("/webhooks/twilio/inbound", {"MessageSid": "SM\x00x", **UNKNOWN_PAIR, "Body": "hi"}),
        ("/webhooks/twilio/inbound", {"MessageSid": "SM" + "2" * 32, "From": CUSTOMER, "To": SENDER, "Body": "a\x00b"}),
        ("/webhooks/twilio/status/{receipt}", {"MessageSid": "SM\x00", "MessageStatus": "delivered"}),
    ],
)
def test_webhook_fields_with_nul_are_refused(
    bridge: LiveBridge, credentials: Credentials, seeds: Seeds, path: str, form: dict[str, str]
) -> None:
    # PostgreSQL cannot store NUL in text: these were 500s there (and stored as sent on SQLite).
    assert_refused(webhook(bridge, credentials, path.format(receipt=seeds.receipt), form))


@pytest.mark.parametrize(
    ("path", "form"),
    [
        (
            "/webhooks/twilio/inbound",
            {"MessageSid": "SM" + "3" * 32, **UNKNOWN_PAIR, "Body": "hi", "Extra\x00": "a\x00b"},
        ),
        ("/webhooks/twilio/status/{receipt}", {"MessageSid": "SM" + "4" * 32, "MessageStatus": "read", "X": "\x00"}),
    ],
)
def test_nul_in_a_field_the_bridge_does_not_read_is_ignored(
    bridge: LiveBridge, credentials: Credentials, seeds: Seeds, path: str, form: dict[str, str]
) -> None:
    # Unknown parameters are ignored, NUL or not (the fuzzer's unknown-parameter check found these refused); an
    # unrouted message keeps them, JSON-escaped, with everything else the carrier sent.
    response = webhook(bridge, credentials, path.format(receipt=seeds.receipt), form)
    assert response.status_code == 200, response.text


# --- webhooks/admin/: error codes, relative times, unknown parameters ---------------------------------------------


@pytest.mark.parametrize("code", ["\u00b2", "9" * 5000])
def test_an_unreadable_error_code_filter_is_a_400(bridge: LiveBridge, seeds: Seeds, code: str) -> None:
    # webhooks/admin/filters.py: isdigit() let "²" through to int().
    assert_refused(admin(bridge, "GET", "/admin/api/deliveries", params={"error_code": code}))
    assert_refused(admin(bridge, "POST", "/admin/api/replay", data={"error_code": code}))


@pytest.mark.parametrize("name", ["since", "until"])
def test_a_relative_time_with_thousands_of_digits_is_a_400(bridge: LiveBridge, seeds: Seeds, name: str) -> None:
    # bridge/admin.py parse_moment: int() of 5,000 digits raised ValueError, only OverflowError was caught.
    form = {"address": "", "channel": "sms", name: "9" * 5000 + "h"}
    assert_refused(admin(bridge, "POST", "/admin/api/replay", data=form))
    assert_refused(admin(bridge, "GET", "/admin/api/deliveries/counts", params={"since": "9" * 5000 + "d"}))


@pytest.mark.parametrize("where", ["params", "data"])
def test_reroute_refuses_unknown_parameters_like_the_rest_of_the_admin_api(
    bridge: LiveBridge, seeds: Seeds, where: str
) -> None:
    # webhooks/admin/api.py: the only admin endpoint that ignored them.
    response = admin(bridge, "POST", f"/admin/api/unrouted/{seeds.unrouted_id}/reroute", **{where: {"A": ""}})
    assert_refused(response)
    assert admin(bridge, "POST", f"/admin/api/unrouted/{seeds.unrouted_id}/reroute").status_code == 200


# --- webhooks/api/conversations.py: the day after EndDate ---------------------------------------------------------


def test_conversations_up_to_the_last_day_of_the_calendar(bridge: LiveBridge, seeds: Seeds) -> None:
    # EndDate + 1 day overflowed on 9999-12-31: a 500.
    for path in ("/v1/Conversations", f"/v1/Services/{seeds.service}/Conversations"):
        response = api(bridge, "GET", path, params={"EndDate": "9999-12-31T23:59:59Z"})
        assert response.status_code == 200, response.text
        assert [c["sid"] for c in response.json()["conversations"]] == [seeds.conversation]


# --- bridge/validation.py: timers past the calendar ---------------------------------------------------------------


@pytest.mark.parametrize("duration", ["P3000000D", "PT999999999999M"])
def test_a_timer_whose_deadline_would_pass_year_9999_is_refused(
    bridge: LiveBridge, seeds: Seeds, duration: str
) -> None:
    # now + P3000000D overflowed datetime: a 500 on create, and as a default every later create failed too.
    form = {"State": "active", "Timers.Inactive": duration}
    assert_refused(api(bridge, "POST", "/v1/Conversations", data=form))
    assert_refused(api(bridge, "POST", "/v1/Configuration", data={"DefaultInactiveTimer": duration}))
    assert_refused(api(bridge, "POST", f"/v1/Conversations/{seeds.conversation}", data={"Timers.Closed": duration}))
    assert api(bridge, "POST", "/v1/Conversations", data={"FriendlyName": "still fine"}).status_code == 201


# --- bridge/hooks/configuration.py: a retry count of 5,000 digits met int()'s own limit (a ValueError, a 500) ----


@pytest.mark.parametrize("count", ["9" * 5000, "\u00b3", "03"])
def test_a_service_webhook_retry_count_that_is_no_small_integer_is_refused(
    bridge: LiveBridge, seeds: Seeds, count: str
) -> None:
    path = f"/v1/Services/{seeds.service}/Configuration/Webhooks"
    response = api(bridge, "POST", path, data={"PostWebhookRetryCount": count})
    assert_refused(response)
    assert response.json()["code"] == 50065

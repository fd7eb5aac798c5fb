"""The response checker the integration suite runs on every API response: it must be able to fail.

Each test feeds `violations` one hand-written response; a correct body yields nothing, each defect a finding.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.support.spec import find_operation, violations

SERVICE_SID = "IS" + "0123456789abcdef" * 2
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
SERVICE_PATH = f"/v1/Services/{SERVICE_SID}"
BASE = "https://bridge.example.com"

SERVICE: dict[str, Any] = {
    "account_sid": ACCOUNT_SID,
    "sid": SERVICE_SID,
    "friendly_name": "Support",
    "date_created": "2024-01-31T12:00:05Z",
    "date_updated": "2024-01-31T12:00:05Z",
    "url": BASE + SERVICE_PATH,
    "links": {"roles": f"{BASE}{SERVICE_PATH}/Roles"},
}
ERROR = {"code": 20404, "message": "Not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}
PHONE_NUMBER: dict[str, Any] = {
    "sid": "PN" + "0" * 32,
    "account_sid": ACCOUNT_SID,
    "service_sid": "MG" + "0" * 32,
    "date_created": "2024-01-31T12:00:05Z",
    "date_updated": "2024-01-31T12:00:05Z",
    "phone_number": "+12015550100",
    "country_code": "US",
    "capabilities": ["SMS", "MMS"],
    "url": f"{BASE}/messaging/v1/Services/MG{'0' * 32}/PhoneNumbers/PN{'0' * 32}",
}


def check(
    body: object, *, method: str = "GET", path: str = SERVICE_PATH, status: int = 200, raw: bytes | None = None
) -> list[str]:
    return violations(method, path, status, "application/json", raw if raw is not None else json.dumps(body).encode())


def changed(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body.update(fields)
    return body


def service_list(next_page_url: str | None) -> dict[str, Any]:
    url = f"{BASE}/v1/Services?PageSize=1&Page=0"
    meta = {
        "page": 0,
        "page_size": 1,
        "first_page_url": url,
        "previous_page_url": None,
        "url": url,
        "next_page_url": next_page_url,
        "key": "services",
    }
    return {"services": [SERVICE], "meta": meta}


# --- the checker accepts what is right ------------------------------------------------------------------


def test_a_correct_body_passes() -> None:
    assert check(SERVICE) == []


def test_nullable_fields_may_be_null() -> None:
    assert check(changed(SERVICE, friendly_name=None, links=None)) == []


def test_a_correct_list_page_passes() -> None:
    assert check(service_list(f"{BASE}/v1/Services?PageSize=1&Page=1&PageToken=PTx"), path="/v1/Services") == []


def test_a_correct_error_passes() -> None:
    assert check(ERROR, status=404) == []


def test_an_empty_204_passes_where_the_spec_has_one() -> None:
    assert violations("DELETE", SERVICE_PATH, 204, "", b"") == []


def test_a_correct_messaging_phone_number_passes() -> None:
    path = f"/messaging/v1/Services/MG{'0' * 32}/PhoneNumbers"
    assert check(PHONE_NUMBER, method="POST", path=path, status=201) == []


# --- the checker rejects what is wrong ------------------------------------------------------------------


def test_a_missing_field_is_reported() -> None:
    body = changed(SERVICE)
    del body["links"]
    [problem] = check(body)
    assert "'links' is a required property" in problem


def test_a_wrong_type_is_reported() -> None:
    [problem] = check(changed(SERVICE, friendly_name=42))
    assert problem.startswith(f"GET {SERVICE_PATH} -> 200: friendly_name:")


@pytest.mark.parametrize(
    "date", ["2024-01-31T12:00:05.123Z", "2024-01-31T12:00:05+00:00", "2024-01-31 12:00:05Z", "Wed, 31 Jan 2024"]
)
def test_a_date_not_in_twilio_format_is_reported(date: str) -> None:
    [problem] = check(changed(SERVICE, date_created=date))
    assert "date_created" in problem


@pytest.mark.parametrize("url", [SERVICE_PATH, "bridge.example.com/v1/Services", "ftp://example.com/x", ""])
def test_a_url_that_is_not_absolute_http_is_reported(url: str) -> None:
    [problem] = check(changed(SERVICE, url=url))
    assert ": url:" in problem


def test_a_relative_next_page_url_is_reported() -> None:
    [problem] = check(service_list("/v1/Services?PageSize=1&Page=1"), path="/v1/Services")
    assert "meta/next_page_url" in problem


def test_a_sid_with_the_wrong_prefix_is_reported() -> None:
    [problem] = check(changed(SERVICE, sid="CH" + "0" * 32))
    assert ": sid:" in problem


def test_a_wrong_messaging_field_is_reported() -> None:
    path = f"/messaging/v1/Services/MG{'0' * 32}/PhoneNumbers"
    [problem] = check(changed(PHONE_NUMBER, capabilities="SMS"), method="POST", path=path, status=201)
    assert "capabilities" in problem


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (changed(ERROR, status=400), "differs from the HTTP status"),
        ({k: v for k, v in ERROR.items() if k != "more_info"}, "'more_info' is a required property"),
        (changed(ERROR, code="20404"), "code"),
        ([ERROR], "not a JSON object"),  # must be reported, not crash the checker
        ("Not found", "not a JSON object"),
    ],
)
def test_a_malformed_error_is_reported(body: object, expected: str) -> None:
    problems = check(body, status=404)
    assert len(problems) == 1 and expected in problems[0]


def test_a_body_that_is_not_json_is_reported() -> None:
    assert check(None, raw=b"<html>oops</html>") == [f"GET {SERVICE_PATH} -> 200: body is not JSON"]
    [problem] = violations("GET", SERVICE_PATH, 404, "text/html; charset=utf-8", b"<html>oops</html>")
    assert "is not JSON" in problem


def test_a_204_with_a_body_is_reported() -> None:
    [problem] = violations("DELETE", SERVICE_PATH, 204, "application/json", b"{}")
    assert "204 must have an empty body" in problem


def test_a_204_where_the_spec_has_none_is_reported() -> None:
    # Creating a service answers 201 with the service; an empty 204 would leave twilio-python with nothing.
    [problem] = violations("POST", "/v1/Services", 204, "", b"")
    assert "status not among ['201']" in problem


def test_a_status_the_operation_does_not_have_is_reported() -> None:
    [problem] = check(SERVICE, status=201)
    assert "status not among ['200'] for FetchService" in problem


def test_a_path_outside_the_spec_is_reported() -> None:
    [problem] = check(SERVICE, path="/v1/Nonsense")
    assert "no operation in the spec" in problem


# --- operation lookup -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "operation_id"),
    [
        ("GET", f"{SERVICE_PATH}/Configuration", "FetchServiceConfiguration"),
        ("GET", "/v1/Configuration", "FetchConfiguration"),
        ("GET", "/v1/Configuration/Addresses/IG" + "0" * 32, "FetchConfigurationAddress"),
        ("GET", "/v1/Configuration/Addresses", "ListConfigurationAddress"),
        ("POST", f"{SERVICE_PATH}/Roles", "CreateServiceRole"),
        ("DELETE", "/messaging/v1/Services/MG" + "0" * 32, "DeleteService"),
    ],
)
def test_literal_segments_win_over_parameters(method: str, path: str, operation_id: str) -> None:
    operation = find_operation(method, path)
    assert operation is not None and operation.operation_id == operation_id

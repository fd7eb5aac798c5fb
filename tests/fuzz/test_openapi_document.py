"""/openapi.json: served without credentials, a valid OpenAPI 3 document, and exactly the bridge's routes: every route
of the Flask URL map is documented (but the admin console's and the web chat's HTML pages), every documented
operation is served, and all 103 of Twilio's operations are among them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
import schemathesis

from bridge.openapi.document import (
    UNKNOWN_PARAMETERS,
    build_document,
    operations,
    twilio_operation_ids,
)
from tests.support.live import LiveBridge

# The admin console's and the web chat's pages and static files are HTML for a browser, not an API
# (tests/integration covers them).
CONSOLE_ENDPOINTS = re.compile(r"^(admin|admin_auth|webchat)\.|^static$")
DUMMY = "ZZ" + "0" * 32


def shape(template: str) -> str:
    """`/v1/Services/{ChatServiceSid}/Roles` and `/v1/Services/<service_sid>/Roles` both as `/v1/Services/*/Roles`."""
    return re.sub(r"\{[^}]+\}|<[^>]+>", "*", template)


def test_the_document_is_served_without_credentials(bridge: LiveBridge) -> None:
    response = requests.get(bridge.url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document == build_document(bridge.settings.public_base_url)
    assert document["servers"] == [{"url": bridge.settings.public_base_url}]
    assert document["openapi"].startswith("3.0")


def test_schemathesis_accepts_the_document(bridge: LiveBridge) -> None:
    schema = schemathesis.openapi.from_url(bridge.url + "/openapi.json")
    schema.validate()  # against the OpenAPI 3.0 meta-schema
    loaded = {result.ok().label for result in schema.get_all_operations()}  # ok() raises for one it cannot use
    documented = {f"{method} {template}" for method, template, _ in operations(build_document())}
    assert documented - loaded == {"GET /openapi.json"}  # schemathesis leaves out the document it was loaded from


def test_every_route_is_documented_and_every_documented_operation_is_a_route(bridge: LiveBridge) -> None:
    routes = {
        (method, shape(rule.rule))
        for rule in bridge.app.url_map.iter_rules()
        if not CONSOLE_ENDPOINTS.search(rule.endpoint)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(method, shape(template)) for method, template, _ in operations(build_document())}
    assert sorted(routes - documented) == [], "routes the document lacks"
    assert sorted(documented - routes) == [], "documented operations no route serves"


def test_all_of_twilios_operations_are_documented(bridge: LiveBridge) -> None:
    twilio = twilio_operation_ids()
    documented = {op["operationId"] for _, _, op in operations(build_document())}
    assert len(twilio) == 103
    assert sorted(set(twilio) - documented) == []
    assert len(set(twilio) & documented) == 103


def _operation(document: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    return document["paths"][template][method]


def test_the_bridge_extensions_are_documented() -> None:
    document = build_document()
    schemas = document["components"]["schemas"]
    configuration = _operation(document, "post", "/v1/Services/{ChatServiceSid}/Configuration")
    form = configuration["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert {"AttributionEnabled", "KeywordMessagesVisible"} <= set(form)
    service_configuration = schemas["conversations.v1.service.service_configuration"]["properties"]
    assert {"attribution_enabled", "keyword_messages_visible"} <= set(service_configuration)
    for method, template in (("post", "/messaging/v1/Services"), ("post", "/messaging/v1/Services/{Sid}")):
        body = _operation(document, method, template)["requestBody"]["content"]
        assert "HelpText" in body["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert "help_text" in schemas["messaging.v1.service"]["properties"]
    webhooks = _operation(document, "post", "/v1/Services/{ChatServiceSid}/Configuration/Webhooks")
    form = webhooks["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert {"PreWebhookRetryCount", "PostWebhookRetryCount"} <= set(form)
    service_webhooks = schemas["conversations.v1.service.service_configuration.service_webhook_configuration"]
    assert {"pre_webhook_retry_count", "post_webhook_retry_count"} <= set(service_webhooks["properties"])


@pytest.mark.parametrize(
    ("method", "template", "scheme"),
    [
        ("post", "/webhooks/twilio/inbound", "twilioSignature"),
        ("post", "/webhooks/twilio/status/{DeliverySid}", "twilioSignature"),
        ("post", "/admin/api/replay", "adminBasic"),
        ("get", "/admin/api/deliveries", "adminBasic"),
        ("get", "/metrics", "metricsToken"),
    ],
)
def test_webhooks_the_admin_api_and_metrics_name_their_own_security(method: str, template: str, scheme: str) -> None:
    assert _operation(build_document(), method, template)["security"] == [{scheme: []}]


def test_public_operations_need_no_credentials_and_the_rest_do() -> None:
    document = build_document()
    public = {(m, t) for m, t, op in operations(document) if op.get("security") == []}
    health = {("GET", "/healthz"), ("GET", "/readyz")}
    assert public == {("GET", "/openapi.json"), ("GET", "/media/{Sid}/{Token}"), *health}
    assert document["security"] == [{"accountSid_authToken": []}]


def test_every_operation_says_what_it_does_with_unknown_parameters() -> None:
    policies = {
        (template.startswith("/admin/api/"), op.get(UNKNOWN_PARAMETERS))
        for _, template, op in operations(build_document())
    }
    assert policies == {(False, "ignored"), (True, "refused")}

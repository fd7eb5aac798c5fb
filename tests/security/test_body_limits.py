"""Every POST route of the URL map refuses a body over its limit with a JSON 413 and stores nothing: with a
Content-Length, and chunked without one (which Werkzeug alone would cut at the limit and parse as if whole).

Limits: carrier webhooks 256 KB (MAX_WEBHOOK_BYTES), media uploads BRIDGE_MEDIA_MAX_BYTES, everything else
BRIDGE_MAX_REQUEST_BYTES. Each request carries valid credentials for its route (the API's, the admin's session or
Basic, a correct webhook signature, a chat client's access token), so the refusal is about the body and nothing
else."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask
from twilio.request_validator import RequestValidator

from bridge import access_tokens, accounts
from tests.integration.conftest import Api, settle
from tests.integration.test_admin_api import Console, admin_credentials
from tests.security.routes import (
    ADMIN_API_PREFIX,
    Kind,
    differences,
    fill,
    kinds_of,
    methods_of,
    rules,
    snapshot,
)
from tests.security.world import World, build_world, path_values, reroutable
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from webhooks.app import OWN_BODY_LIMIT
from webhooks.carriers.twilio import MAX_WEBHOOK_BYTES

CHUNK = 64 * 1024


@pytest.fixture
def world(api: Api, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge) -> World:
    built = build_world(live, api, "limits", "+14155550191", sender_pool["sms"], service_sid=None)
    settle(live)  # nothing changes in the database behind the probes' backs
    return built


def chunked(data: bytes) -> Iterator[bytes]:
    """A generator body: requests sends it with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def test_every_post_route_refuses_an_oversized_body_with_a_json_413_and_stores_nothing(
    live: LiveBridge, api: Api, world: World, sender_pool: dict[str, str], fake_carrier: FakeCarrier
) -> None:
    posts = [rule for rule in rules(live.app) if "POST" in methods_of(rule)]
    extra = {
        "messaging_service": api.get("/v1/Configuration").json()["default_messaging_service_sid"],
        "unrouted": reroutable(live, api, fake_carrier, sender_pool["sms"], 1),
        "Addresses": api.post("/v1/Configuration/Addresses", {"Type": "sms", "Address": "+12015550109"}).json()["sid"],
    }
    admin = Console(live)
    assert admin.sign_in(*admin_credentials(live)).status_code == 302
    signer = RequestValidator(fake_carrier.auth_token)
    with live.database.transaction() as db_session:
        key = accounts.create_api_key(db_session, "body limits")
    chat_token = access_tokens.mint(live.account_sid, key.sid, key.secret, "limits", world.service_sid)
    problems: list[str] = []
    limits: dict[int, int] = {}
    for rule in posts:
        kind = kinds_of(rule.rule)[0]
        path = fill(rule.rule, path_values(rule.rule, world, extra))
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        session: requests.Session = requests.Session()
        if rule.endpoint in OWN_BODY_LIMIT:
            limit = live.settings.media_max_bytes
            body, headers = b"\x00" * (limit + 1), {"Content-Type": "image/png"}
            session.auth = (live.account_sid, live.auth_token)
        elif kind is Kind.CARRIER_WEBHOOK:
            limit = MAX_WEBHOOK_BYTES
            params = fake_carrier.inbound_params("+14155550192", "+12015550100", "x" * limit)
            body = urlencode(params).encode()
            headers["X-Twilio-Signature"] = signer.compute_signature(live.settings.public_base_url + path, params)
        else:
            limit = live.settings.max_request_bytes
            body = b"Body=" + b"x" * (limit + 1 - len(b"Body="))
            if kind is Kind.API:
                session.auth = (live.account_sid, live.auth_token)
            elif rule.rule.startswith(ADMIN_API_PREFIX):
                session.auth = admin_credentials(live)
            else:
                session = admin.http  # a signed-in console: the page would act on a body it could read
        if kind is Kind.CHAT_MEDIA:
            headers["X-Twilio-Token"] = chat_token
        assert len(body) > limit
        limits[limit] = limits.get(limit, 0) + 1
        for variant, data in (("with Content-Length", body), ("chunked", chunked(body))):
            before = snapshot(live.database)
            reply = session.post(live.url + path, data=data, headers=headers, timeout=60, allow_redirects=False)
            is_json = reply.headers.get("Content-Type", "").startswith("application/json")
            if reply.status_code != 413 or not is_json or reply.json().get("code") != 20001:
                problems.append(f"POST {rule.rule} {variant}: {reply.status_code} {reply.text[:120]!r}")
            elif str(limit) not in reply.json()["message"]:
                problems.append(f"POST {rule.rule} {variant}: the message does not name the {limit}-byte limit")
            changed = differences(before, snapshot(live.database))
            if changed:
                problems.append(f"POST {rule.rule} {variant} stored something: {changed}")
    assert not problems, "\n".join(problems)
    print(f"\nbody limits: {len(posts)} POST routes x 2 (Content-Length, chunked); by limit: {limits}")


def test_a_view_that_never_reads_its_body_is_still_refused_an_oversized_one(
    live: LiveBridge, throwaway_app: Flask
) -> None:
    """A declared length over the limit is refused before any view runs: a view that acts without reading its
    body (as the admin API's re-route once did) cannot be handed one either."""
    app = throwaway_app
    acted: list[str] = []

    def act_without_reading() -> str:
        acted.append("acted")
        return "done"

    app.add_url_rule("/v1/Act", "act", act_without_reading, methods=["POST"])
    browser = app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{live.account_sid}:{live.auth_token}".encode()).decode()}
    limit = live.settings.max_request_bytes
    assert browser.post("/v1/Act", data=b"x" * limit, headers=auth).status_code == 200  # at the limit: it runs
    refused = browser.post("/v1/Act", data=b"x" * (limit + 1), headers=auth)
    assert refused.status_code == 413 and refused.get_json()["code"] == 20001
    assert acted == ["acted"]

"""Every route in the URL map is one of seven kinds, and each route refuses a caller without the right credentials
the way its kind should (probed over HTTP on the live bridge, method by method):

- carrier webhook: 403 without a valid X-Twilio-Signature, and nothing stored;
- REST API: 401 JSON without credentials, and the admin's credentials do not open it;
- admin: pages send a signed-out visitor to the sign-in page, `/admin/api/` answers 401; the API's credentials
  open neither;
- signed public media URL: 404 without the right token;
- Prometheus metrics: 401 JSON without BRIDGE_METRICS_TOKEN (the API's and the admin's credentials do not open it);
- chat media service: 401 JSON without a chat client's valid access token in X-Twilio-Token (the API's credentials
  do not open it), 403 with a token of another service;
- public: an explicit allow-list, each entry with its reason.

The map is enumerated, so a new route is checked the day it is added; one that fits no kind fails the suite."""

from __future__ import annotations

import base64
import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from flask import Flask
from twilio.request_validator import RequestValidator

from bridge import access_tokens, accounts
from bridge import media as media_domain
from tests.integration.conftest import Api, settle
from tests.security.routes import (
    ADMIN_API_PREFIX,
    PUBLIC,
    Kind,
    Send,
    differences,
    fill,
    in_process,
    kinds_of,
    methods_of,
    of_kind,
    over_http,
    rules,
    snapshot,
    unclassified,
)
from tests.security.world import PNG, World, build_world, path_values
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from webhooks.admin import ratelimit

STRANGER = "+14155550177"  # writes in from a number no conversation knows
FORM = {"FriendlyName": "stranger", "Identity": "stranger", "Body": "stranger"}  # would create things if let in


@dataclass
class Target:
    """What the probes need to know about the app under test."""

    app: Flask
    send: Send
    live: LiveBridge
    world: World | None
    reset_limits: Callable[[], None]

    @property
    def api_credentials(self) -> tuple[str, str]:
        return self.live.account_sid, self.live.auth_token

    @property
    def admin_credentials(self) -> tuple[str, str]:
        return self.live.settings.admin_username, self.live.settings.admin_password


# -- the probes, one per kind: each returns what it found wrong -------------------------------------------------


def probe_carrier_webhook(target: Target, rule: str, carrier: FakeCarrier) -> list[str]:
    problems: list[str] = []
    path = fill(rule, path_values(rule, target.world))
    url = target.live.settings.public_base_url + path
    proxy = target.world.address if target.world else "+12015550100"
    form = carrier.inbound_params(STRANGER, proxy, "let me in", MessageStatus="read")
    signer = RequestValidator(carrier.auth_token)
    forgeries = {
        "no signature": {},
        "an empty signature": {"X-Twilio-Signature": ""},
        "a signature made with another token": {
            "X-Twilio-Signature": RequestValidator("not-the-carrier-token").compute_signature(url, form)
        },
        "a signature of other parameters": {
            "X-Twilio-Signature": signer.compute_signature(url, {**form, "Body": "something else"})
        },
        "a signature of another URL": {"X-Twilio-Signature": signer.compute_signature(url + "?x=1", form)},
        "a signature of a truncated URL": {"X-Twilio-Signature": signer.compute_signature(url[:-1], form)},
    }
    before = snapshot(target.live.database)
    for name, headers in forgeries.items():
        reply = target.send("POST", path, headers=headers, data=form)
        if reply.status != 403 or not reply.is_json:
            problems.append(f"POST {rule} with {name}: {reply.status} (expected a JSON 403)")
    changed = differences(before, snapshot(target.live.database))
    if changed:
        problems.append(f"POST {rule} with forged signatures stored something: {changed}")
    if not problems:
        # The control: signed correctly, the same request goes through and is stored, so the refusals above were
        # about the signature and nothing else.
        signed = {"X-Twilio-Signature": signer.compute_signature(url, form)}
        reply = target.send("POST", path, headers=signed, data=form)
        if reply.status != 200 or not differences(before, snapshot(target.live.database)):
            problems.append(f"POST {rule} correctly signed: {reply.status} and nothing stored (the probe is broken)")
    return problems


def probe_api(target: Target, rule: str) -> list[str]:
    problems: list[str] = []
    path = fill(rule, path_values(rule, target.world))
    for method in methods_of_rule(target, rule):
        for who, auth in (("no credentials", None), ("the admin's credentials", target.admin_credentials)):
            reply = target.send(method, path, auth=auth, data=FORM if method == "POST" else None)
            body = reply.json() if reply.is_json else {}
            challenged = reply.headers.get("WWW-Authenticate", "").startswith("Basic")
            if reply.status != 401 or body.get("code") != 20003 or not challenged:
                problems.append(f"{method} {rule} with {who}: {reply.status} {body} (expected a 401 JSON challenge)")
    return problems


def probe_admin(target: Target, rule: str) -> list[str]:
    problems: list[str] = []
    path = fill(rule, path_values(rule, target.world))
    json_api = path.startswith(ADMIN_API_PREFIX)
    for method in methods_of_rule(target, rule):
        for who, auth in (("no credentials", None), ("the REST API's credentials", target.api_credentials)):
            target.reset_limits()  # refused Basic credentials count as failed sign-ins; these are not guesses
            reply = target.send(method, path, auth=auth, data={"status": "failed"} if method == "POST" else None)
            if json_api:
                body = reply.json() if reply.is_json else {}
                if reply.status != 401 or body.get("code") != 20003:
                    problems.append(f"{method} {rule} with {who}: {reply.status} (expected a JSON 401)")
            elif reply.status != 302 or not reply.headers.get("Location", "").startswith("/admin/sign-in"):
                problems.append(f"{method} {rule} with {who}: {reply.status} (expected a redirect to the sign-in)")
    return problems


def probe_signed_media(target: Target, rule: str) -> list[str]:
    assert target.world is not None
    problems: list[str] = []
    sid = target.world.media_sid
    right = media_domain.url_token(target.live.settings, sid)
    flipped = right[:-1] + ("A" if right[-1] != "A" else "B")
    wrong_tokens = {
        "no token": "x",
        "a token of the right length": "A" * len(right),
        "the right token with its last character changed": flipped,
        "the right token with one more character": right + "A",
        "the right token cut short": right[:-1],
        "another media's token": media_domain.url_token(target.live.settings, "ME" + "0" * 32),
    }
    for name, token in wrong_tokens.items():
        for who, auth in (("no credentials", None), ("the REST API's credentials", target.api_credentials)):
            reply = target.send("GET", fill(rule, {"sid": sid, "token": token}), auth=auth)
            if reply.status != 404:
                problems.append(f"GET {rule} with {name} and {who}: {reply.status} (expected 404)")
    control = target.send("GET", fill(rule, {"sid": sid, "token": right}))
    if control.status != 200 or control.body != PNG:
        problems.append(f"GET {rule} with the right token: {control.status} (the probe is broken)")
    return problems


def probe_metrics(target: Target, rule: str) -> list[str]:
    problems: list[str] = []
    token = target.live.settings.metrics_token
    wrong = {
        "no credentials": {},
        "the REST API's credentials": {"Authorization": basic(*target.api_credentials)},
        "the admin's credentials": {"Authorization": basic(*target.admin_credentials)},
        "the auth token as a bearer token": {"Authorization": f"Bearer {target.live.auth_token}"},
        "a token with its last character changed": {
            "Authorization": f"Bearer {token[:-1]}{'A' if token[-1] != 'A' else 'B'}"
        },
        "the token cut short": {"Authorization": f"Bearer {token[:-1]}"},
        "the token under another Basic username": {"Authorization": basic("admin", token)},
        "the token in the wrong scheme": {"Authorization": f"Token {token}"},
    }
    for method in methods_of_rule(target, rule):
        for who, headers in wrong.items():
            reply = target.send(method, rule, headers=headers)
            body = reply.json() if reply.is_json else {}
            challenged = reply.headers.get("WWW-Authenticate", "").startswith("Bearer")
            if reply.status != 401 or body.get("code") != 20003 or not challenged:
                problems.append(f"{method} {rule} with {who}: {reply.status} (expected a 401 JSON challenge)")
    for who, headers in (
        ("the bearer token", {"Authorization": f"Bearer {token}"}),
        ("Basic metrics:<token>", {"Authorization": basic("metrics", token)}),
    ):
        control = target.send("GET", rule, headers=headers)
        if control.status != 200 or b"bridge_" not in control.body:
            problems.append(f"GET {rule} with {who}: {control.status} (the probe is broken)")
    return problems


def probe_chat_media(target: Target, rule: str) -> list[str]:
    assert target.world is not None
    problems: list[str] = []
    path = fill(rule, path_values(rule, target.world))
    with target.live.database.transaction() as session:
        key = accounts.create_api_key(session, "route probes")
    token = access_tokens.mint(target.live.account_sid, key.sid, key.secret, "prober", target.world.service_sid)
    forged = access_tokens.mint(target.live.account_sid, key.sid, "not-the-secret", "prober", target.world.service_sid)
    wrong = {
        "no credentials": {},
        "the REST API's credentials": {"Authorization": basic(*target.api_credentials)},
        "a token signed with another secret": {"X-Twilio-Token": forged},
        "a token cut short": {"X-Twilio-Token": token[:-2]},
        "the auth token as a token": {"X-Twilio-Token": target.live.auth_token},
    }
    for method in methods_of_rule(target, rule):
        for who, headers in wrong.items():
            reply = target.send(method, path, headers=headers, data=b"x" if method == "POST" else None)
            body = reply.json() if reply.is_json else {}
            if reply.status != 401 or not 20101 <= int(body.get("code") or 0) <= 20107:
                problems.append(f"{method} {rule} with {who}: {reply.status} {body} (expected a JSON 401, 2010x)")
    other_service = fill(rule, {**path_values(rule, target.world), "service_sid": "IS" + "0" * 32})
    reply = target.send("GET" if "GET" in methods_of_rule(target, rule) else "POST", other_service,
                        headers={"X-Twilio-Token": token})  # fmt: skip
    if reply.status != 403:
        problems.append(f"{rule} of another service with a valid token: {reply.status} (expected 403)")
    return problems


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def methods_of_rule(target: Target, rule: str) -> list[str]:
    return next(methods_of(candidate) for candidate in rules(target.app) if candidate.rule == rule)


# -- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
def world(api: Api, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge) -> World:
    """A populated service whose SMS delivery has finished (so nothing changes behind the probes' backs)."""
    built = build_world(live, api, "routes", "+14155550171", sender_pool["sms"], service_sid=None)
    settle(live)
    return built


@pytest.fixture
def target(live: LiveBridge, world: World) -> Target:
    return Target(live.app, over_http(live.url), live, world, live.app.extensions[ratelimit.EXTENSION].reset)


# -- the tests ------------------------------------------------------------------------------------------------


def test_every_route_is_exactly_one_kind(live: LiveBridge) -> None:
    assert unclassified(live.app) == []
    counts = Counter(kinds_of(rule.rule)[0] for rule in rules(live.app))
    print(f"\nroutes by kind: { {kind.name: n for kind, n in counts.items()} }, total {sum(counts.values())}")
    assert counts[Kind.API] > 50 and counts[Kind.ADMIN] > 5  # the map really was enumerated
    admin_rules = {rule.rule for rule in of_kind(live.app, Kind.ADMIN)}
    assert admin_rules >= {
        "/admin/deliveries/replay",
        "/admin/webhooks",
        "/admin/webhooks/replay",
        "/admin/webhooks/<call_sid>",
        "/admin/api/webhooks",
        "/admin/api/webhooks/counts",
        "/admin/api/webhooks/<call_sid>",
    }  # the console's webhook calls are locked as admin routes, not carrier webhooks (/webhooks/...)
    allowed = [rule.rule for rule in of_kind(live.app, Kind.PUBLIC)]
    assert set(allowed) <= set(PUBLIC) and "/admin/sign-in" in allowed
    assert all(len(reason) > 20 for reason in PUBLIC.values())  # each door has its reason written down


def test_the_webhook_configuration_routes_are_api_routes(live: LiveBridge) -> None:
    """The account's, the services' and the conversations' webhooks: HTTP Basic, like the rest of the API."""
    webhook_rules = {rule.rule for rule in rules(live.app) if "Webhooks" in rule.rule}
    assert webhook_rules == {
        "/v1/Configuration/Webhooks",
        "/v1/Services/<service_sid>/Configuration/Webhooks",
        "/v1/Conversations/<conversation_sid>/Webhooks",
        "/v1/Conversations/<conversation_sid>/Webhooks/<sid>",
        "/v1/Services/<service_sid>/Conversations/<conversation_sid>/Webhooks",
        "/v1/Services/<service_sid>/Conversations/<conversation_sid>/Webhooks/<sid>",
    }
    assert all(kinds_of(rule) == [Kind.API] for rule in webhook_rules)


def test_carrier_webhooks_refuse_forged_signatures_and_store_nothing(target: Target, worker: FakeCarrier) -> None:
    webhooks = of_kind(target.live.app, Kind.CARRIER_WEBHOOK)
    assert {r.rule for r in webhooks} >= {"/webhooks/twilio/inbound", "/webhooks/twilio/status/<delivery_sid>"}
    problems = [p for rule in webhooks for p in probe_carrier_webhook(target, rule.rule, worker)]
    assert not problems, "\n".join(problems)


def test_every_api_route_refuses_strangers_and_the_admin_credentials(target: Target) -> None:
    api_rules = of_kind(target.live.app, Kind.API)
    problems = [p for rule in api_rules for p in probe_api(target, rule.rule)]
    assert not problems, "\n".join(problems)
    print(f"\nAPI: {sum(len(methods_of(r)) for r in api_rules)} route-methods on {len(api_rules)} rules, 2 callers")


def test_every_admin_route_needs_the_admin_sign_in_not_the_api_credentials(target: Target) -> None:
    admin_rules = of_kind(target.live.app, Kind.ADMIN)
    problems = [p for rule in admin_rules for p in probe_admin(target, rule.rule)]
    assert not problems, "\n".join(problems)
    print(f"\nadmin: {sum(len(methods_of(r)) for r in admin_rules)} route-methods on {len(admin_rules)} rules")


def test_metrics_need_their_own_token(target: Target) -> None:
    metrics_rules = of_kind(target.live.app, Kind.METRICS)
    assert [r.rule for r in metrics_rules] == ["/metrics"]
    assert [p for rule in metrics_rules for p in probe_metrics(target, rule.rule)] == []


def test_metrics_are_not_served_without_a_token(live: LiveBridge, monkeypatch: pytest.MonkeyPatch) -> None:
    token = live.settings.metrics_token
    monkeypatch.setitem(live.app.extensions, "bridge.settings", dataclasses.replace(live.settings, metrics_token=""))
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {token}"}):
        reply = requests.get(live.url + "/metrics", headers=headers, timeout=30)
        assert reply.status_code == 404 and reply.json()["code"] == 20404


def test_the_chat_media_service_needs_a_chat_clients_access_token(target: Target) -> None:
    chat_rules = of_kind(target.live.app, Kind.CHAT_MEDIA)
    assert len(chat_rules) >= 3  # upload, fetch, MediaSet at least
    assert [p for rule in chat_rules for p in probe_chat_media(target, rule.rule)] == []


def test_signed_media_urls_need_their_token(target: Target) -> None:
    media_rules = of_kind(target.live.app, Kind.SIGNED_MEDIA)
    assert [r.rule for r in media_rules] == ["/media/<sid>/<token>"]
    assert [p for rule in media_rules for p in probe_signed_media(target, rule.rule)] == []


# -- the enumeration itself cannot be slipped past ----------------------------------------------------------------


def test_a_route_of_no_known_kind_fails_the_enumeration(throwaway_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    assert unclassified(throwaway_app) == []
    throwaway_app.add_url_rule("/debug/state", "debug_state", lambda: "everything")
    assert [line.split(" ")[0] for line in unclassified(throwaway_app)] == ["/debug/state"]
    # Nor can a locked route be waved through by allow-listing it: it would then be two kinds.
    monkeypatch.setitem(PUBLIC, "/webhooks/twilio/inbound", "tests were failing and this made them pass")
    assert [line.split(" ")[0] for line in unclassified(throwaway_app)] == ["/debug/state", "/webhooks/twilio/inbound"]


def test_a_route_of_a_known_kind_without_its_lock_fails_its_probe(
    live: LiveBridge, throwaway_app: Flask, fake_carrier: FakeCarrier
) -> None:
    """Routes registered straight on the app, around the blueprints that lock their kind."""
    stored: list[str] = []

    def open_webhook() -> str:
        stored.append("x")
        return ""

    throwaway_app.add_url_rule("/webhooks/twilio/open", "open_webhook", open_webhook, methods=["POST"])
    throwaway_app.add_url_rule("/admin/open", "open_admin", lambda: "deliveries")
    throwaway_app.add_url_rule("/admin/api/open", "open_admin_api", lambda: {"deliveries": []})
    throwaway_app.add_url_rule("/v1/Open", "open_api", lambda: {"open": True})
    target = Target(throwaway_app, in_process(throwaway_app), live, None, lambda: None)

    assert probe_carrier_webhook(target, "/webhooks/twilio/open", fake_carrier) != []
    assert stored
    assert probe_admin(target, "/admin/open") != []
    assert probe_admin(target, "/admin/api/open") != []
    # The API's lock is app-wide (a before_request on its prefixes): a new API route has it from the start.
    assert probe_api(target, "/v1/Open") == []

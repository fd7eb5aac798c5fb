"""The admin web console (`/admin`) on a live bridge: sign-in with its own credentials and a protected session
cookie, CSRF on every change, failures shown with their codes, replays and re-routes from the pages, failed
webhook calls with their attempts and replays, the audit trail; and, in real headless Chromium, an admin
filtering failed deliveries, replaying them and watching them turn delivered, then replaying a failed webhook
call."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from twilio.rest import Client

from tests.integration.conftest import (
    CUSTOMER,
    FailCalls,
    call_statuses,
    delivery_statuses,
    held_for_pre_event,
)
from tests.integration.test_admin_api import (
    BAD,
    FIRST_BODY,
    GOOD,
    OUTAGE_BODIES,
    WALTER,
    Console,
    admin_credentials,
    audit_actions,
    csrf_token_in,
    fail_deliveries,
    fresh_sign_in_limits,  # noqa: F401 - an autouse fixture
    recover,
    sends_since,
    settled,
)
from tests.support.chromium import launched_chromium, missing_reason
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Answer, WebhookReceiver

# The README's picture of the console. Written when missing or when BRIDGE_UPDATE_SCREENSHOT=1, so that an
# ordinary test run does not leave a changed binary file in the work tree.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "admin-console.png"


@pytest.fixture
def console(live: LiveBridge) -> Console:
    signed_in = Console(live)
    assert signed_in.sign_in(*admin_credentials(live)).status_code == 302
    return signed_in


# -- signing in ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/admin",
        "/admin/deliveries?status=failed",
        "/admin/webhooks?status=failed",
        "/admin/webhooks/WCx",
        "/admin/unrouted",
        "/admin/audit",
        "/admin/messages/IMx",
    ],
)
def test_pages_send_a_signed_out_visitor_to_the_sign_in_page(live: LiveBridge, path: str) -> None:
    response = Console(live).get(path)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/admin/sign-in" and parse_qs(location.query)["next"] == [path]


def test_changes_need_a_session_not_the_rest_api_credentials(live: LiveBridge) -> None:
    visitor = Console(live)
    visitor.http.auth = (live.account_sid, live.auth_token)
    replay = visitor.post("/admin/deliveries/replay", {"scope": "matching", "status": "failed"})
    assert replay.status_code == 302 and replay.headers["Location"].startswith("/admin/sign-in")
    visitor.http.auth = admin_credentials(live)  # Basic is for the JSON API; pages want a signed-in browser
    assert visitor.get("/admin").status_code == 302
    assert audit_actions(live) == []


def test_the_rest_api_credentials_do_not_sign_in(live: LiveBridge) -> None:
    visitor = Console(live)
    refused = visitor.sign_in(live.account_sid, live.auth_token)
    assert refused.status_code == 401 and "do not match the admin credentials" in refused.text
    assert visitor.get("/admin").status_code == 302
    assert audit_actions(live) == [(live.account_sid, "sign-in-failed")]


def test_signing_in_gives_a_protected_cookie_and_signing_out_ends_the_session(live: LiveBridge) -> None:
    visitor = Console(live)
    signed_in = visitor.sign_in(*admin_credentials(live))
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/admin"
    cookie = signed_in.headers["Set-Cookie"]
    assert cookie.startswith("bridge_admin=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # PUBLIC_BASE_URL is http here: a Secure cookie would never come back
    dashboard = visitor.get("/admin")
    assert dashboard.status_code == 200 and live.settings.admin_username in dashboard.text
    assert dashboard.headers["X-Frame-Options"] == "DENY" and dashboard.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in dashboard.headers["Content-Security-Policy"]

    unprotected = visitor.post("/admin/sign-out")
    assert unprotected.status_code == 400  # a page elsewhere cannot sign the admin out
    signed_out = visitor.post("/admin/sign-out", {"csrf_token": csrf_token_in(dashboard.text)})
    assert signed_out.status_code == 302 and visitor.get("/admin").status_code == 302
    username = live.settings.admin_username
    assert audit_actions(live) == [(username, "sign-in"), (username, "sign-out")]


def test_the_sign_in_form_itself_needs_its_csrf_token(live: LiveBridge) -> None:
    visitor = Console(live)
    username, password = admin_credentials(live)
    forged = visitor.post("/admin/sign-in", {"username": username, "password": password})
    assert forged.status_code == 400 and "expired" in forged.text
    assert visitor.get("/admin").status_code == 302


def test_after_signing_in_the_admin_lands_where_they_were_going_and_never_elsewhere(live: LiveBridge) -> None:
    visitor = Console(live)
    token = visitor.token("/admin/sign-in")
    username, password = admin_credentials(live)
    form = {"csrf_token": token, "username": username, "password": password, "next": "/admin/audit"}
    assert visitor.post("/admin/sign-in", form).headers["Location"] == "/admin/audit"
    elsewhere = Console(live)
    form = {**form, "csrf_token": elsewhere.token("/admin/sign-in"), "next": "https://evil.example/admin"}
    assert elsewhere.post("/admin/sign-in", form).headers["Location"] == "/admin"


def test_the_cookie_is_secure_when_the_bridge_is_served_over_https(live: LiveBridge) -> None:
    from webhooks import create_app
    from workers import celery_app

    https_settings = dataclasses.replace(live.settings, public_base_url="https://bridge.example.com")
    try:
        app: Flask = create_app(https_settings, database=live.database)
        with app.test_client() as browser:
            token = csrf_token_in(browser.get("/admin/sign-in").get_data(as_text=True))
            username, password = admin_credentials(live)
            response = browser.post(
                "/admin/sign-in", data={"csrf_token": token, "username": username, "password": password}
            )
    finally:
        celery_app.configure(celery_app.app, live.settings)  # create_app pointed Celery at the copy's settings
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]


# -- failures, replays, re-routes ---------------------------------------------------------------------------------


def test_the_console_shows_failures_with_their_codes_and_replays_a_selection(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    console: Console,
) -> None:
    failures = fail_deliveries(client, sender_pool, worker, live)
    dashboard = console.get("/admin").text
    assert "21211" in dashboard and "20503" in dashboard and "not a valid phone number" in dashboard
    assert re.search(r'stat-value">9<.*?Failed', dashboard, re.S)

    invalid = console.get("/admin/deliveries?error_code=21211")
    assert invalid.status_code == 200
    assert (
        invalid.text.count('<tr data-sid="') == 1 and BAD in invalid.text and "not a valid phone number" in invalid.text
    )
    down = console.get("/admin/deliveries?error_code=20503&channel=whatsapp").text
    assert down.count('<tr data-sid="') == 2 and WALTER.removeprefix("whatsapp:") in down
    assert "Replay all matching (2)" in down

    recover(worker)
    before = len(worker.snapshot())
    chosen = re.search(r'<tr data-sid="(DY[0-9a-f]{32})"', invalid.text)
    assert chosen
    replayed = console.post(
        "/admin/deliveries/replay",
        {"csrf_token": csrf_token_in(invalid.text), "scope": "selected", "selected": chosen.group(1)},
    )
    assert replayed.status_code == 302
    watch = urlsplit(replayed.headers["Location"])
    assert watch.path == "/admin/deliveries" and parse_qs(watch.query)["sid"] == [chosen.group(1)]
    page = console.get(replayed.headers["Location"]).text
    assert "Replayed 1 delivery" in page and page.count('<tr data-sid="') == 1
    eventually(lambda: 'data-status="delivered"' in console.get(replayed.headers["Location"]).text)
    assert sends_since(worker, before) == Counter({(BAD, FIRST_BODY): 1})

    audit = console.get("/admin/audit").text
    assert "replayed 1 of 1 deliveries" in audit and live.settings.admin_username in audit
    assert delivery_statuses(live)["failed"] == failures.failed - 1


def test_replay_all_matching_freezes_the_filter_the_admin_saw_and_sends_each_once(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    console: Console,
) -> None:
    fail_deliveries(client, sender_pool, worker, live)
    page = console.get("/admin/deliveries?error_code=20503&since=1h").text
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    assert hidden["error_code"] == "20503" and hidden["since"].startswith("20")  # `1h` became a moment
    recover(worker)
    before = len(worker.snapshot())
    form = {**hidden, "scope": "matching"}
    first = console.post("/admin/deliveries/replay", form)
    assert first.status_code == 302
    assert "Replayed 8 deliveries" in console.get(first.headers["Location"]).text
    eventually(lambda: settled(live) and delivery_statuses(live) == Counter({"delivered": 11, "failed": 1}), timeout=60)
    again = console.post("/admin/deliveries/replay", form)
    assert "Replayed 0 deliveries" in console.get(again.headers["Location"]).text
    expected = {(to, body) for to in (GOOD, BAD, "+14155550143", WALTER) for body in OUTAGE_BODIES[:2]}
    assert sends_since(worker, before) == Counter(dict.fromkeys(expected, 1))


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    console: Console,
) -> None:
    fail_deliveries(client, sender_pool, worker, live, during_outage=1)
    recover(worker)
    refused = console.post("/admin/deliveries/replay", {"scope": "matching", "status": "failed"})
    assert refused.status_code == 400 and "Nothing was changed" in refused.text
    forged = console.post("/admin/deliveries/replay", {"scope": "matching", "status": "failed", "csrf_token": "x"})
    assert forged.status_code == 400
    assert delivery_statuses(live)["failed"] == 5
    assert [action for _, action in audit_actions(live)] == ["sign-in"]


def test_a_filter_that_does_not_parse_is_explained_above_the_form(live: LiveBridge, console: Console) -> None:
    page = console.get("/admin/deliveries?since=yesterday-ish&address=%2B1415")
    assert page.status_code == 400
    assert "Not a time" in page.text and 'value="yesterday-ish"' in page.text and "Apply filters" in page.text


def test_a_messages_timeline_page_shows_every_attempt_and_callback(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    console: Console,
) -> None:
    failures = fail_deliveries(client, sender_pool, worker, live, during_outage=1)
    found = console.get(f"/admin/find?q={failures.outage_message_sids[0]}")
    assert found.headers["Location"] == f"/admin/messages/{failures.outage_message_sids[0]}"
    outage = console.get(found.headers["Location"]).text
    assert outage.count("will retry") == 4 and outage.count(">503<") == 8 and "20503" in outage
    first = console.get(f"/admin/messages/{failures.first_message_sid}").text
    assert FIRST_BODY in first and "21211" in first and all(a in first for a in (GOOD, BAD, "+14155550144"))
    assert ">201<" in first and "Status callbacks" in first and 'data-status="delivered"' in first
    missing = console.get("/admin/messages/IM0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404 and "not found" in missing.text


def test_an_unrouted_message_is_rerouted_from_the_console(
    live: LiveBridge, client: Client, sender_pool: dict[str, str], worker: FakeCarrier, console: Console
) -> None:
    stranger = "+14155550159"
    worker.post_inbound(live.url, worker.inbound_params(stranger, sender_pool["sms"], "hello? wrong number?"))
    page = console.get("/admin/unrouted").text
    assert stranger in page and "hello? wrong number?" in page
    action = re.search(r'action="(/admin/unrouted/\d+/reroute)"', page)
    assert action
    token = csrf_token_in(page)
    early = console.post(action.group(1), {"csrf_token": token})
    assert "no participant is bound to this pair yet" in console.get(early.headers["Location"]).text

    conversation = client.conversations.v1.conversations.create()
    conversation.participants.create(
        messaging_binding_address=stranger, messaging_binding_proxy_address=sender_pool["sms"]
    )
    conversation.participants.create(messaging_binding_address=GOOD, messaging_binding_proxy_address=sender_pool["sms"])
    routed = console.post(action.group(1), {"csrf_token": token})
    assert routed.headers["Location"].startswith("/admin/messages/IM")
    assert "Routed message" in console.get(routed.headers["Location"]).text
    assert [send.body for send in worker.wait_for(1)] == ["hello? wrong number?"]
    assert "No inbound message is waiting" in console.get("/admin/unrouted").text
    assert (live.settings.admin_username, "reroute") in audit_actions(live)


def test_the_webhooks_page_shows_failed_calls_and_a_calls_page_every_attempt_and_its_payload(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
    console: Console,
) -> None:
    conversation = failed_calls("one", "two")
    dashboard = console.get("/admin").text
    assert re.search(r'data-failed-calls>\s*<span class="stat-value">2<', dashboard)
    assert re.search(r'data-calls="failed">\s*<span class="stat-value">2<', dashboard) and "HTTP 500" in dashboard

    listed = console.get("/admin/webhooks")
    assert listed.status_code == 200 and "Failed webhook calls" in listed.text
    sids = re.findall(r'<tr data-sid="(WC[0-9a-f]{32})" data-status="failed"', listed.text)
    assert len(sids) == 2 and listed.text.count("HTTP 500") >= 2 and "Replay all matching (2)" in listed.text
    assert console.get("/admin/webhooks?event_type=onMessageRemoved").text.count('<tr data-sid="') == 0
    assert console.get(f"/admin/webhooks?conversation={conversation}&since=1h").text.count('<tr data-sid="') == 2
    bad = console.get("/admin/webhooks?target=nobody")
    assert bad.status_code == 400 and "target must be" in bad.text and "Apply filters" in bad.text

    found = console.get(f"/admin/find?q={sids[1]}")
    assert found.headers["Location"] == f"/admin/webhooks/{sids[1]}"
    page = console.get(found.headers["Location"]).text
    assert "onMessageAdded" in page and receiver.url() in page and CUSTOMER in page
    assert page.count("will retry") == 1 and page.count(">500<") == 2 and "attempt 2 of 2" in page
    assert re.search(r'<td class="mono small">Body</td><td class="mono small">one</td>', page)
    missing = console.get("/admin/webhooks/WC0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404 and "not found" in missing.text

    receiver.answer = lambda _: Answer(200)
    before = len(receiver.requests())
    form = {"csrf_token": csrf_token_in(page), "one": sids[1], "return_to": found.headers["Location"]}
    replayed = console.post("/admin/webhooks/replay", form)
    assert replayed.status_code == 302 and replayed.headers["Location"] == f"/admin/webhooks/{sids[1]}"
    assert "Replayed 1 webhook call" in console.get(replayed.headers["Location"]).text
    eventually(lambda: call_statuses(live) == Counter({"delivered": 1, "failed": 1}))
    assert [r.headers["I-Twilio-Idempotency-Token"] for r in receiver.requests()[before:]] == [sids[1]]
    delivered = console.get(f"/admin/webhooks/{sids[1]}").text
    assert 'data-status="delivered"' in delivered and ">200<" in delivered and "Replay</button>" not in delivered
    assert "replayed 1 of 1 webhook calls" in console.get("/admin/audit").text


def test_replay_all_matching_webhook_calls_sends_each_once_and_refuses_without_the_csrf_token(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
    console: Console,
) -> None:
    failed_calls("one", "two", "three")
    page = console.get("/admin/webhooks?event_type=onMessageAdded&since=1h").text
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    assert hidden["event_type"] == "onMessageAdded" and hidden["since"].startswith("20")  # `1h` became a moment
    form = {**hidden, "scope": "matching"}
    refused = console.post("/admin/webhooks/replay", {key: value for key, value in form.items() if key != "csrf_token"})
    assert refused.status_code == 400 and "Nothing was changed" in refused.text
    assert call_statuses(live) == Counter({"failed": 3})

    receiver.answer = lambda _: Answer(200)
    before = len(receiver.requests())
    first = console.post("/admin/webhooks/replay", form)
    assert first.status_code == 302 and urlsplit(first.headers["Location"]).path == "/admin/webhooks"
    assert parse_qs(urlsplit(first.headers["Location"]).query)["event_type"] == ["onMessageAdded"]
    assert "Replayed 3 webhook calls" in console.get(first.headers["Location"]).text
    eventually(lambda: call_statuses(live) == Counter({"delivered": 3}))
    again = console.post("/admin/webhooks/replay", form)
    assert "Replayed 0 webhook calls" in console.get(again.headers["Location"]).text
    assert [r.fields["Body"] for r in receiver.requests()[before:]] == ["one", "two", "three"]
    nothing = console.post("/admin/webhooks/replay", {"csrf_token": hidden["csrf_token"], "scope": "selected"})
    assert "Select the webhook calls to replay first" in console.get(nothing.headers["Location"]).text


def test_the_unrouted_page_shows_held_and_rejected_messages(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    receiver: WebhookReceiver,
    console: Console,
) -> None:
    held_for_pre_event(live, client, sender_pool, worker, receiver, "may I?", Answer(403, delay=1.5))
    held = console.get("/admin/unrouted?status=held").text
    assert "may I?" in held and re.search(r'data-status="(held|asking)"', held) and "Re-route</button>" not in held
    eventually(lambda: "may I?" in console.get("/admin/unrouted?status=rejected").text)
    rejected = console.get("/admin/unrouted?status=rejected").text
    assert 'data-status="rejected"' in rejected and "refused" in rejected and "Re-route</button>" not in rejected
    assert "No inbound message is held" in console.get("/admin/unrouted?status=held").text
    assert "No inbound message is waiting" in console.get("/admin/unrouted").text


# -- in a real browser --------------------------------------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[object]:
    """Debian's chromium under Playwright. Missing is a failure, not a skip: scripts/prerequisites installs it."""
    if missing_reason() is not None:
        pytest.fail(str(missing_reason()))
    with launched_chromium() as browser:
        yield browser


def test_in_chromium_an_admin_filters_failed_deliveries_replays_them_and_sees_them_delivered(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
    chromium: object,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    failed_calls("is my parcel lost?")
    fail_deliveries(client, sender_pool, worker, live, during_outage=3)
    page = chromium.new_page(viewport={"width": 1360, "height": 860})
    page.on("dialog", lambda dialog: dialog.accept())  # "Replay all matching N deliveries?"
    problems: list[str] = []  # script errors and Content-Security-Policy refusals show up here
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(live.url + "/admin/deliveries")
    expect(page).to_have_url(re.compile(r"/admin/sign-in\?next="))
    username, password = admin_credentials(live)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Failed deliveries")).to_be_visible()
    expect(page.locator("tr[data-sid]")).to_have_count(13)
    save_screenshot(page, tmp_path)

    page.get_by_label("Error code").fill("20503")
    page.get_by_label("Channel").select_option("sms")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("tr[data-sid]")
    expect(rows).to_have_count(9)
    expect(rows.locator(".badge")).to_have_text(["failed"] * 9)
    expect(rows.locator("td.error .code")).to_have_text(["20503"] * 9)

    recover(worker)
    before = len(worker.snapshot())
    page.get_by_role("button", name=re.compile(r"Replay all matching \(9\)")).click()
    expect(page.locator(".flash-success")).to_contain_text("Replayed 9 deliveries")
    # The list now follows what was replayed; the page polls and shows each one turn delivered.
    expect(page.locator("tr[data-sid] .badge")).to_have_text(["delivered"] * 9, timeout=60_000)
    assert sum(sends_since(worker, before).values()) == 9 and set(sends_since(worker, before).values()) == {1}
    assert delivery_statuses(live) == Counter({"delivered": 12, "failed": 4})  # WhatsApp was not in the filter

    # The application's backend failed a webhook call past its attempts; fixed, it gets the call from a replay.
    page.get_by_role("link", name="Webhooks", exact=True).click()
    expect(page.get_by_role("heading", name="Failed webhook calls")).to_be_visible()
    call = page.locator("tr[data-sid]")
    expect(call).to_have_count(1)
    expect(call.locator(".badge")).to_have_text("failed")
    expect(call.locator("td.error")).to_have_text("HTTP 500")
    call.get_by_role("link", name="onMessageAdded").click()
    expect(page.locator("table.attempts tbody tr")).to_have_count(2)
    expect(page.locator("table.payload")).to_contain_text("is my parcel lost?")
    page.go_back()
    receiver.answer = lambda _: Answer(200)
    before = len(receiver.requests())
    page.locator("tr[data-sid]").get_by_role("button", name="Replay").click()
    expect(page.locator(".flash-success")).to_contain_text("Replayed 1 webhook call")
    expect(page.locator("tr[data-sid] .badge")).to_have_text(["delivered"], timeout=60_000)
    expect(page.locator("tr[data-sid] td.error")).to_have_text("—")
    replayed = receiver.requests()[before:]
    assert [r.fields["Body"] for r in replayed] == ["is my parcel lost?"] and replayed[0].signature_valid
    assert call_statuses(live) == Counter({"delivered": 1})
    assert problems == []


def save_screenshot(page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    shot = tmp_path / SCREENSHOT.name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    if os.environ.get("BRIDGE_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

"""The admin JSON API (`/admin/api/`) on a live bridge, a real worker and the fake carrier: its own credentials
(the REST API's do not open it), a rate-limited and audited sign-in, CSRF for cookie sessions, failures listed
with their carrier codes, and replays that send each failed delivery exactly once, counted at the carrier."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from limits import parse as parse_limit
from sqlalchemy import select
from twilio.rest import Client

from bridge.models import AdminAction
from tests.integration.conftest import (
    CUSTOMER,
    FailCalls,
    call_statuses,
    delivery_statuses,
    held_for_pre_event,
    open_whatsapp_window,
)
from tests.support.fake_carrier import Failure, FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Answer, WebhookReceiver
from webhooks.admin import ratelimit

GOOD, BAD, FLAKY = "+14155550141", "+14155550142", "+14155550143"
WALTER = "whatsapp:+14155550144"
INVALID_NUMBER = Failure(400, 21211, f"The 'To' number {BAD} is not a valid phone number.")
OUTAGE = Failure(503, 20503, "Service Unavailable: the carrier is down")
FIRST_BODY = "Your order #1042 has shipped"
OUTAGE_BODIES = ("The courier is 10 minutes away", "Delivered. How did we do? Reply 1-5", "Thanks for the rating!")
SIGN_IN_LIMIT = parse_limit(ratelimit.DEFAULT_LIMIT).amount


# -- shared with test_admin_console.py ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_sign_in_limits(live: LiveBridge) -> Iterator[None]:
    """Each test starts with no failed sign-ins counted (the counter lives in Redis, beyond the table reset)."""
    live.app.extensions[ratelimit.EXTENSION].reset()
    yield


def settled(live: LiveBridge) -> bool:
    counts = delivery_statuses(live)
    return counts["pending"] == 0 and counts["sending"] == 0 and counts["sent"] == 0


@dataclass
class Failures:
    conversation_sid: str
    first_message_sid: str  # BAD failed it with 21211; the others got it
    outage_message_sids: list[str]  # every recipient failed these: the carrier was down past the retry limit

    @property
    def failed(self) -> int:
        return 1 + 4 * len(self.outage_message_sids)


def fail_deliveries(
    client: Client, sender_pool: dict[str, str], worker: FakeCarrier, live: LiveBridge, during_outage: int = 2
) -> Failures:
    """A support conversation (three SMS customers, one WhatsApp): the first message fails for an invalid number
    (21211) and arrives elsewhere; then the carrier goes down and the next `during_outage` fail for everyone."""
    conversation = client.conversations.v1.conversations.create(friendly_name="Order 1042")
    for address in (GOOD, BAD, FLAKY):
        conversation.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms"]
        )
    walter = conversation.participants.create(
        messaging_binding_address=WALTER, messaging_binding_proxy_address=sender_pool["whatsapp"]
    )
    open_whatsapp_window(live, walter.sid)
    worker.failures_by_number[BAD] = INVALID_NUMBER
    first = conversation.messages.create(author="ada", body=FIRST_BODY)
    eventually(lambda: settled(live) and delivery_statuses(live) == Counter({"failed": 1, "delivered": 3}), timeout=60)
    worker.outage = OUTAGE
    outage = [conversation.messages.create(author="ada", body=body).sid for body in OUTAGE_BODIES[:during_outage]]
    expected = Counter({"failed": 1 + 4 * during_outage, "delivered": 3})
    eventually(lambda: settled(live) and delivery_statuses(live) == expected, timeout=60)
    return Failures(conversation.sid, first.sid, outage)


def recover(worker: FakeCarrier) -> None:
    """The carrier is back up, and the invalid number was corrected."""
    worker.outage = None
    worker.failures_by_number.clear()


class Console:
    """A browser's view of the admin, through plain HTTP: a cookie jar and the CSRF tokens the pages carry."""

    def __init__(self, live: LiveBridge) -> None:
        self.base = live.url
        self.http = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, allow_redirects=False, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, data=data, timeout=60, allow_redirects=False, **kwargs)

    def token(self, path: str = "/admin") -> str:
        """The CSRF token a page of the console hands its forms and scripts."""
        return csrf_token_in(self.get(path).text)

    def sign_in(self, username: str, password: str) -> requests.Response:
        token = self.token("/admin/sign-in")
        form = {"csrf_token": token, "username": username, "password": password, "next": "/admin"}
        return self.post("/admin/sign-in", form)


def csrf_token_in(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


def admin_credentials(live: LiveBridge) -> tuple[str, str]:
    return live.settings.admin_username, live.settings.admin_password


@pytest.fixture
def script(live: LiveBridge) -> requests.Session:
    """An admin's script: HTTP Basic with the admin credentials, no cookies, no CSRF token."""
    http = requests.Session()
    http.auth = admin_credentials(live)
    return http


@pytest.fixture
def console(live: LiveBridge) -> Console:
    signed_in = Console(live)
    assert signed_in.sign_in(*admin_credentials(live)).status_code == 302
    return signed_in


def audit_actions(live: LiveBridge) -> list[tuple[str, str]]:
    with live.database.transaction() as session:
        return [(a.actor, a.action) for a in session.scalars(select(AdminAction).order_by(AdminAction.id))]


# -- authentication ----------------------------------------------------------------------------------------------


def test_the_api_needs_the_admin_credentials_and_the_rest_apis_do_not_open_it(live: LiveBridge) -> None:
    url = live.url + "/admin/api/deliveries"
    nobody = requests.get(url, timeout=30)
    assert nobody.status_code == 401
    assert nobody.json()["code"] == 20003 and "admin" in nobody.json()["message"]
    rest_account = requests.get(url, auth=(live.account_sid, live.auth_token), timeout=30)
    assert rest_account.status_code == 401 and rest_account.json()["status"] == 401
    wrong = requests.get(url, auth=(live.settings.admin_username, "not-the-password"), timeout=30)
    assert wrong.status_code == 401
    bearer = requests.get(url, headers={"Authorization": f"Bearer {live.settings.admin_password}"}, timeout=30)
    assert bearer.status_code == 401
    right = requests.get(url, auth=admin_credentials(live), timeout=30)
    assert right.status_code == 200 and right.json()["deliveries"] == []
    # Nor do the admin credentials open the REST API.
    assert requests.get(live.url + "/v1/Services", auth=admin_credentials(live), timeout=30).status_code == 401


def test_failed_sign_ins_are_rate_limited_per_address_and_user_and_audited(
    live: LiveBridge, script: requests.Session
) -> None:
    username, password = admin_credentials(live)
    guesser = Console(live)
    for n in range(SIGN_IN_LIMIT):
        refused = guesser.sign_in(username, f"guess-{n}")
        assert refused.status_code == 401 and "do not match" in refused.text
    # The limit is reached: even the right password is not looked at until the window has passed.
    blocked = guesser.sign_in(username, password)
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text and int(blocked.headers["Retry-After"]) >= 1
    assert guesser.get("/admin").status_code == 302  # still signed out
    # The API's Basic auth shares the counter: a script cannot guess faster than the form.
    api_blocked = script.get(live.url + "/admin/api/audit", timeout=30)
    assert api_blocked.status_code == 429
    assert api_blocked.json()["code"] == 20429 and "try again" in api_blocked.json()["message"]
    # Another username from the same address has its own counter.
    assert Console(live).sign_in("someone-else", "guess").status_code == 401

    live.app.extensions[ratelimit.EXTENSION].reset()  # the minute has passed
    actions = script.get(live.url + "/admin/api/audit", timeout=30).json()["actions"]
    failed = [a for a in actions if a["action"] == "sign-in-failed"]
    assert [a["actor"] for a in failed] == ["someone-else"] + [username] * SIGN_IN_LIMIT
    assert all(a["details"]["address"] == "127.0.0.1" and "guess" not in str(a["details"]) for a in failed)


def test_wrong_basic_credentials_count_as_failed_sign_ins(live: LiveBridge) -> None:
    username, password = admin_credentials(live)
    for _ in range(SIGN_IN_LIMIT):
        assert requests.get(live.url + "/admin/api/audit", auth=(username, "nope"), timeout=30).status_code == 401
    assert requests.get(live.url + "/admin/api/audit", auth=(username, password), timeout=30).status_code == 429
    assert audit_actions(live) == [(username, "sign-in-failed")] * SIGN_IN_LIMIT


def test_a_cookie_session_needs_the_csrf_token_to_change_anything_and_a_script_does_not(
    live: LiveBridge, console: Console, script: requests.Session
) -> None:
    url = live.url + "/admin/api/replay"
    refused = console.http.post(url, json={"status": "failed"}, timeout=30)
    assert refused.status_code == 403
    assert refused.json()["code"] == 20403 and "CSRF" in refused.json()["message"]
    forged = console.http.post(url, json={"status": "failed"}, headers={"X-CSRFToken": "forged"}, timeout=30)
    assert forged.status_code == 403
    assert [action for _, action in audit_actions(live)] == ["sign-in"]  # nothing was replayed

    token = console.token()
    accepted = console.http.post(url, json={"status": "failed"}, headers={"X-CSRFToken": token}, timeout=30)
    assert accepted.status_code == 200 and accepted.json() == {"matched": 0, "replayed": 0, "skipped": 0}
    assert console.http.get(live.url + "/admin/api/deliveries", timeout=30).status_code == 200  # reads need no token

    assert script.post(url, json={"status": "failed"}, timeout=30).status_code == 200
    # A browser page on another site cannot use Basic credentials the browser remembered.
    cross_site = script.post(url, data={"status": "failed"}, headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
    assert cross_site.status_code == 403
    assert audit_actions(live) == [(live.settings.admin_username, action) for action in ("sign-in", "replay", "replay")]


# -- failures, counts, paging -------------------------------------------------------------------------------------


def test_failed_deliveries_are_listed_with_their_carrier_codes_and_counted(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    script: requests.Session,
) -> None:
    failures = fail_deliveries(client, sender_pool, worker, live)

    listed = script.get(live.url + "/admin/api/deliveries", timeout=30).json()
    assert listed["matching"] == failures.failed == len(listed["deliveries"])
    assert Counter(row["error_code"] for row in listed["deliveries"]) == Counter({21211: 1, 20503: 8})
    assert {row["status"] for row in listed["deliveries"]} == {"failed"}

    invalid = script.get(live.url + "/admin/api/deliveries", params={"error_code": 21211}, timeout=30).json()
    (row,) = invalid["deliveries"]
    assert (row["address"], row["channel"], row["proxy_address"]) == (BAD, "sms", sender_pool["sms"])
    assert "not a valid phone number" in row["error_message"] and row["attempts"] == 1
    assert (row["message_sid"], row["body_preview"], row["replayable"]) == (
        failures.first_message_sid,
        FIRST_BODY,
        True,
    )

    down = script.get(live.url + "/admin/api/deliveries", params={"error_code": "20503", "channel": "whatsapp"}).json()
    assert [(r["address"], r["attempts"]) for r in down["deliveries"]] == [(WALTER, 2), (WALTER, 2)]
    for params, expected in (
        ({"address": BAD}, 3),
        ({"status": "all", "address": BAD}, 3),
        ({"status": "all"}, 12),
        ({"status": "delivered,failed", "message": failures.first_message_sid}, 4),
        ({"conversation": failures.conversation_sid, "since": "1h"}, 9),
        ({"until": "1h"}, 0),
        ({"sid": row["sid"], "status": "all"}, 1),
    ):
        found = script.get(live.url + "/admin/api/deliveries", params=params, timeout=30).json()
        assert (found["matching"], len(found["deliveries"])) == (expected, expected), params

    counts = script.get(live.url + "/admin/api/deliveries/counts", params={"since": "1h"}, timeout=30).json()
    assert counts["by_status"]["failed"] == 9 and counts["by_status"]["delivered"] == 3
    assert [(e["error_code"], e["count"]) for e in counts["by_error_code"]] == [(20503, 8), (21211, 1)]
    assert "not a valid phone number" in counts["by_error_code"][1]["example"]


def test_deliveries_are_keyset_paged_newest_first(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    script: requests.Session,
) -> None:
    fail_deliveries(client, sender_pool, worker, live)
    first = script.get(live.url + "/admin/api/deliveries", params={"PageSize": 4}, timeout=30).json()
    seen = [row["sid"] for row in first["deliveries"]]
    url = first["meta"]["next_page_url"]
    while url:
        page = script.get(url, timeout=30).json()
        seen += [row["sid"] for row in page["deliveries"]]
        url = page["meta"]["next_page_url"]
    everything = script.get(live.url + "/admin/api/deliveries", params={"PageSize": 100}, timeout=30).json()
    assert seen == [row["sid"] for row in everything["deliveries"]] and len(seen) == 9 == len(set(seen))
    assert first["meta"]["key"] == "deliveries" and first["meta"]["page_size"] == 4
    dates = [row["date_created"] for row in everything["deliveries"]]
    assert dates == sorted(dates, reverse=True)


# -- replay -------------------------------------------------------------------------------------------------------


def sends_since(worker: FakeCarrier, before: int) -> Counter[tuple[str, str | None]]:
    return Counter((send.to_address, send.body) for send in worker.snapshot()[before:])


def test_a_bulk_replay_by_filter_delivers_each_once_and_replaying_again_sends_nothing(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    script: requests.Session,
) -> None:
    failures = fail_deliveries(client, sender_pool, worker, live)
    recover(worker)
    before = len(worker.snapshot())

    replay = {"status": ["failed"], "conversation": failures.conversation_sid, "since": "1h"}
    result = script.post(live.url + "/admin/api/replay", json=replay, timeout=60)
    assert result.status_code == 200
    assert result.json() == {"matched": 9, "replayed": 9, "skipped": 0}
    eventually(lambda: settled(live) and delivery_statuses(live) == Counter({"delivered": 12}), timeout=60)
    expected = {(BAD, FIRST_BODY)} | {(to, body) for to in (GOOD, BAD, FLAKY, WALTER) for body in OUTAGE_BODIES[:2]}
    assert sends_since(worker, before) == Counter(dict.fromkeys(expected, 1))

    again = script.post(live.url + "/admin/api/replay", json=replay, timeout=60)
    assert again.json() == {"matched": 0, "replayed": 0, "skipped": 0}
    assert delivery_statuses(live) == Counter({"delivered": 12})  # nothing went back to pending, so nothing can be sent
    assert len(worker.snapshot()) == before + 9

    trail = script.get(live.url + "/admin/api/audit", timeout=30).json()["actions"]
    replays = [(a["actor"], a["details"]["replayed"], a["details"]["filter"]["conversation_sid"]) for a in trail]
    username = live.settings.admin_username
    assert replays == [(username, 0, failures.conversation_sid), (username, 9, failures.conversation_sid)]


def test_two_concurrent_replays_of_the_same_filter_send_each_once(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    script: requests.Session,
) -> None:
    failures = fail_deliveries(client, sender_pool, worker, live, during_outage=3)
    recover(worker)
    before = len(worker.snapshot())
    results: list[dict[str, int]] = []
    start = threading.Barrier(2)

    def press_replay() -> None:
        admin_script = requests.Session()
        admin_script.auth = admin_credentials(live)
        start.wait()
        response = admin_script.post(live.url + "/admin/api/replay", data={"error_code": "20503"}, timeout=60)
        results.append(response.json())

    admins = [threading.Thread(target=press_replay) for _ in range(2)]
    for thread in admins:
        thread.start()
    for thread in admins:
        thread.join(timeout=60)
    assert len(results) == 2
    assert sum(r["replayed"] for r in results) == 12 == failures.failed - 1
    # Each saw at most the 12; what the other had already moved is not counted again, as replayed or skipped.
    assert all(r["replayed"] + r["skipped"] <= r["matched"] <= 12 for r in results)
    eventually(lambda: settled(live) and delivery_statuses(live) == Counter({"delivered": 15, "failed": 1}), timeout=60)
    sent = sends_since(worker, before)
    assert sum(sent.values()) == 12 and set(sent.values()) == {1}


def test_a_replay_of_named_deliveries_touches_only_those(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    script: requests.Session,
) -> None:
    fail_deliveries(client, sender_pool, worker, live)
    recover(worker)
    whatsapp = script.get(live.url + "/admin/api/deliveries", params={"channel": "whatsapp"}, timeout=30).json()
    chosen = [row["sid"] for row in whatsapp["deliveries"]]
    before = len(worker.snapshot())
    result = script.post(live.url + "/admin/api/replay", json={"sids": chosen}, timeout=60).json()
    assert result == {"matched": 2, "replayed": 2, "skipped": 0}
    eventually(lambda: settled(live) and delivery_statuses(live)["delivered"] == 5)
    assert {send.to_address for send in worker.snapshot()[before:]} == {WALTER}
    assert delivery_statuses(live)["failed"] == 7


# -- timeline, unrouted, audit -----------------------------------------------------------------------------------


def test_a_messages_timeline_has_every_recipient_attempt_and_status_callback(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    few_attempts: None,
    script: requests.Session,
) -> None:
    failures = fail_deliveries(client, sender_pool, worker, live, during_outage=1)

    def story() -> dict[str, Any]:
        url = f"{live.url}/admin/api/messages/{failures.first_message_sid}/timeline"
        return script.get(url, timeout=30).json()

    def complete() -> dict[str, Any] | None:
        """The story once every delivered recipient's two status callbacks are in it."""
        found = story()
        delivered = [r for r in found["recipients"] if r["delivery"]["status"] == "delivered"]
        return found if len(delivered) == 3 and all(len(r["status_callbacks"]) == 2 for r in delivered) else None

    first = eventually(complete)
    assert (first["body"], first["author"], first["conversation_sid"]) == (FIRST_BODY, "ada", failures.conversation_sid)
    by_address = {r["delivery"]["address"]: r for r in first["recipients"]}
    assert set(by_address) == {GOOD, BAD, FLAKY, WALTER}
    bad = by_address[BAD]
    assert [(a["http_status"], a["error_code"], a["will_retry"]) for a in bad["attempts"]] == [(400, 21211, False)]
    assert bad["status_callbacks"] == [] and bad["delivery"]["status"] == "failed"
    good = by_address[GOOD]
    (attempt,) = good["attempts"]
    assert attempt["http_status"] == 201 and attempt["carrier_message_sid"] == good["delivery"]["channel_message_sid"]
    assert attempt["duration_ms"] >= 0 and attempt["started_at"].endswith("Z")
    # `sent` usually finds the worker's own record of the send already there (not applied); `delivered` moves it.
    assert [e["carrier_status"] for e in good["status_callbacks"]] == ["sent", "delivered"]
    assert good["status_callbacks"][-1]["applied"] is True

    url = f"{live.url}/admin/api/messages/{failures.outage_message_sids[0]}/timeline"
    outage = script.get(url, timeout=30).json()
    for recipient in outage["recipients"]:
        attempts = [(a["http_status"], a["error_code"], a["will_retry"]) for a in recipient["attempts"]]
        assert attempts == [(503, 20503, True), (503, 20503, False)]


def test_unrouted_messages_are_listed_and_rerouted_once_their_sender_is_added(
    live: LiveBridge, client: Client, sender_pool: dict[str, str], worker: FakeCarrier, script: requests.Session
) -> None:
    stranger = "+14155550149"
    worker.post_inbound(live.url, worker.inbound_params(stranger, sender_pool["sms"], "is anyone there?"))
    (kept,) = script.get(live.url + "/admin/api/unrouted", timeout=30).json()["unrouted"]
    assert (kept["from"], kept["to"], kept["body"], kept["status"]) == (
        stranger,
        sender_pool["sms"],
        "is anyone there?",
        "unrouted",
    )
    reroute = f"{live.url}/admin/api/unrouted/{kept['id']}/reroute"
    early = script.post(reroute, timeout=30).json()
    assert (early["routed"], early["reason"]) == (False, "no participant is bound to this pair yet")

    conversation = client.conversations.v1.conversations.create()
    conversation.participants.create(
        messaging_binding_address=stranger, messaging_binding_proxy_address=sender_pool["sms"]
    )
    conversation.participants.create(messaging_binding_address=GOOD, messaging_binding_proxy_address=sender_pool["sms"])
    routed = script.post(reroute, timeout=30).json()
    assert routed["routed"] is True and routed["message_sid"].startswith("IM")
    assert [send.body for send in worker.wait_for(1)] == ["is anyone there?"]
    twice = script.post(reroute, timeout=30).json()
    assert (twice["routed"], twice["reason"]) == (False, "already routed")

    assert script.get(live.url + "/admin/api/unrouted", timeout=30).json()["unrouted"] == []
    (done,) = script.get(live.url + "/admin/api/unrouted", params={"status": "routed"}, timeout=30).json()["unrouted"]
    assert done["routed_message_sid"] == routed["message_sid"]
    assert ("admin", "reroute") in audit_actions(live)


# -- webhook calls -----------------------------------------------------------------------------------------------


def test_failed_webhook_calls_are_listed_counted_and_told_with_every_attempt(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
    script: requests.Session,
) -> None:
    conversation = failed_calls("late parcel", "still late")
    listed = script.get(live.url + "/admin/api/webhooks", timeout=30).json()
    assert listed["matching"] == 2 and listed["meta"]["key"] == "webhooks"
    newest, oldest = listed["webhooks"]
    assert (newest["status"], newest["event_type"], newest["target"], newest["url"], newest["method"]) == (
        "failed",
        "onMessageAdded",
        "account",
        receiver.url(),
        "POST",
    )
    assert (newest["conversation_sid"], newest["attempts"], newest["max_attempts"]) == (conversation, 2, 2)
    assert (newest["http_status"], newest["error"], newest["replayable"]) == (500, "HTTP 500", True)
    assert newest["sid"].startswith("WC") and newest["date_created"] >= oldest["date_created"]
    for params, expected in (
        ({"event_type": "onMessageAdded", "target": "account"}, 2),
        ({"event_type": "onParticipantAdded"}, 0),
        ({"url": receiver.url()}, 2),
        ({"url": receiver.url("/other")}, 0),
        ({"conversation": conversation, "since": "1h"}, 2),
        ({"until": "1h"}, 0),
        ({"status": "delivered"}, 0),
        ({"status": "all", "sid": oldest["sid"]}, 1),
        ({"status": "pending,sending"}, 0),
    ):
        found = script.get(live.url + "/admin/api/webhooks", params=params, timeout=30).json()
        assert (found["matching"], len(found["webhooks"])) == (expected, expected), params
    paged = script.get(live.url + "/admin/api/webhooks", params={"PageSize": 1}, timeout=30).json()
    following = script.get(paged["meta"]["next_page_url"], auth=admin_credentials(live), timeout=30).json()
    assert [row["sid"] for row in paged["webhooks"] + following["webhooks"]] == [newest["sid"], oldest["sid"]]

    counts = script.get(live.url + "/admin/api/webhooks/counts", params={"since": "1h"}, timeout=30).json()
    assert counts["by_status"] == {"pending": 0, "sending": 0, "delivered": 0, "failed": 2}
    assert counts["by_error"] == [{"error": "HTTP 500", "count": 2}]

    story = script.get(f"{live.url}/admin/api/webhooks/{oldest['sid']}", timeout=30).json()
    assert story["call"] == oldest
    assert story["payload"]["Body"] == "late parcel" and story["payload"]["EventType"] == "onMessageAdded"
    assert story["payload"]["Author"] == CUSTOMER and story["line"].startswith(conversation)
    assert [(a["attempt"], a["http_status"], a["error"], a["will_retry"]) for a in story["attempts"]] == [
        (1, 500, "HTTP 500", True),
        (2, 500, "HTTP 500", False),
    ]
    assert all(a["started_at"].endswith("Z") and a["duration_ms"] >= 0 for a in story["attempts"])


def test_webhook_calls_are_replayed_through_the_replay_endpoint_each_once(
    live: LiveBridge,
    receiver: WebhookReceiver,
    failed_calls: FailCalls,
    script: requests.Session,
) -> None:
    failed_calls("a", "b", "c")
    calls = script.get(live.url + "/admin/api/webhooks", timeout=30).json()["webhooks"]
    receiver.answer = lambda _: Answer(200)
    before = len(receiver.requests())
    url = live.url + "/admin/api/replay"

    by_sid = script.post(url, json={"sids": [calls[0]["sid"]]}, timeout=60)  # a WC SID names a webhook call
    assert by_sid.status_code == 200 and by_sid.json() == {"matched": 1, "replayed": 1, "skipped": 0}
    eventually(lambda: call_statuses(live) == Counter({"delivered": 1, "failed": 2}))
    by_filter = script.post(url, data={"kind": "webhook", "status": "failed", "since": "1h"}, timeout=60)
    assert by_filter.json() == {"matched": 2, "replayed": 2, "skipped": 0}
    eventually(lambda: call_statuses(live) == Counter({"delivered": 3}))
    again = script.post(url, json={"kind": "webhook", "status": "failed"}, timeout=60)
    assert again.json() == {"matched": 0, "replayed": 0, "skipped": 0}

    replayed = receiver.requests()[before:]
    assert Counter(r.headers["I-Twilio-Idempotency-Token"] for r in replayed) == Counter(c["sid"] for c in calls)
    assert all(r.signature_valid for r in replayed)
    # Without `kind` a replay is about deliveries, as it always was: no webhook call moved.
    assert script.post(url, json={"status": "failed"}, timeout=60).json() == {"matched": 0, "replayed": 0, "skipped": 0}
    trail = script.get(live.url + "/admin/api/audit", timeout=30).json()["actions"]
    assert [(a["details"]["kind"], a["details"]["replayed"], a["summary"]) for a in trail] == [
        ("delivery", 0, "replayed 0 of 0 deliveries"),
        ("webhook", 0, "replayed 0 of 0 webhook calls"),
        ("webhook", 2, "replayed 2 of 2 webhook calls"),
        ("webhook", 1, "replayed 1 of 1 webhook calls"),
    ]
    assert len(receiver.requests()) == before + 3


def test_held_and_rejected_inbound_messages_are_listed(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    receiver: WebhookReceiver,
    script: requests.Session,
) -> None:
    """The application's pre-event webhook takes its time, then refuses the message: held, then rejected."""
    held_for_pre_event(live, client, sender_pool, worker, receiver, "let me in", Answer(403, delay=1.5))

    def listed(status: str) -> list[dict[str, Any]]:
        response = script.get(live.url + "/admin/api/unrouted", params={"status": status}, timeout=30)
        assert response.status_code == 200, response.text
        return list(response.json()["unrouted"])

    (held,) = listed("held")
    assert (held["from"], held["body"]) == (CUSTOMER, "let me in") and held["status"] in ("held", "asking")
    (rejected,) = eventually(lambda: listed("rejected"))
    assert (rejected["id"], rejected["status"], rejected["routed_message_sid"]) == (held["id"], "rejected", None)
    assert listed("held") == [] and listed("unrouted") == [] and listed("routed") == []
    assert [r.event_type for r in receiver.requests()] == ["onMessageAdd"]


# -- bad input is a JSON error, never a 500 ----------------------------------------------------------------------

BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/admin/api/deliveries?status=bogus", {}, 400),
    ("GET", "/admin/api/deliveries?error_code=abc", {}, 400),
    ("GET", "/admin/api/deliveries?error_code=99999999999999999999999", {}, 400),
    ("GET", "/admin/api/deliveries?since=yesterday-ish", {}, 400),
    ("GET", "/admin/api/deliveries?since=99999999999d", {}, 400),
    ("GET", "/admin/api/deliveries?since=2h&since=3h", {}, 400),
    ("GET", "/admin/api/deliveries?until=9999-12-31T23:59:59-01:00", {}, 400),
    ("GET", "/admin/api/deliveries?since=0001-01-01T00:00:00%2B01:00", {}, 400),
    ("GET", "/admin/api/deliveries?address=12", {}, 400),
    ("GET", "/admin/api/deliveries?channel=fax", {}, 400),
    ("GET", "/admin/api/deliveries?service=CH0123456789abcdef0123456789abcdef", {}, 400),
    ("GET", "/admin/api/deliveries?sid=DY%00", {}, 400),
    ("GET", "/admin/api/deliveries?colour=red", {}, 400),
    ("GET", "/admin/api/deliveries?PageToken=junk", {}, 400),
    ("GET", "/admin/api/deliveries?PageSize=0", {}, 400),
    ("GET", "/admin/api/deliveries?PageSize=lots", {}, 400),
    ("GET", "/admin/api/deliveries/counts?since=nope", {}, 400),
    ("GET", "/admin/api/deliveries/counts?status=failed", {}, 400),
    ("GET", "/admin/api/messages/IM0123456789abcdef0123456789abcdef/timeline", {}, 404),
    ("GET", "/admin/api/unrouted?status=lost", {}, 400),
    ("GET", "/admin/api/audit?PageToken=PTnope", {}, 400),
    ("POST", "/admin/api/unrouted/99999999999999999999999999/reroute", {}, 404),
    ("POST", "/admin/api/unrouted/12345/reroute", {}, 404),
    ("POST", "/admin/api/replay", {"json": {}}, 400),
    ("POST", "/admin/api/replay", {"json": [1, 2]}, 400),
    ("POST", "/admin/api/replay", {"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ("POST", "/admin/api/replay", {"json": {"status": "delivered"}}, 400),
    ("POST", "/admin/api/replay", {"json": {"error_code": [True]}}, 400),
    ("POST", "/admin/api/replay", {"json": {"error_code": {"a": 1}}}, 400),
    ("POST", "/admin/api/replay", {"json": {"sids": ["DYnope"]}}, 400),
    ("POST", "/admin/api/replay", {"json": {"eror_code": 21211}}, 400),
    ("POST", "/admin/api/replay", {"data": {"since": "soon"}}, 400),
    ("GET", "/admin/api/webhooks?status=sent", {}, 400),
    ("GET", "/admin/api/webhooks?event_type=onNothing", {}, 400),
    ("GET", "/admin/api/webhooks?target=nobody", {}, 400),
    ("GET", "/admin/api/webhooks?error_code=21211", {}, 400),
    ("GET", "/admin/api/webhooks?sid=DY0123456789abcdef0123456789abcdef", {}, 400),
    ("GET", "/admin/api/webhooks?url=a&url=b", {}, 400),
    ("GET", "/admin/api/webhooks?since=nope", {}, 400),
    ("GET", "/admin/api/webhooks?PageSize=0", {}, 400),
    ("GET", "/admin/api/webhooks/counts?since=nope", {}, 400),
    ("GET", "/admin/api/webhooks/counts?status=failed", {}, 400),
    ("GET", "/admin/api/webhooks/WC0123456789abcdef0123456789abcdef", {}, 404),
    ("GET", "/admin/api/webhooks/WC0123456789abcdef0123456789abcdef?verbose=1", {}, 400),
    ("GET", "/admin/api/unrouted?status=asking", {}, 400),
    ("POST", "/admin/api/replay", {"json": {"kind": "fax", "status": "failed"}}, 400),
    ("POST", "/admin/api/replay", {"json": {"kind": ["webhook", "delivery"], "status": "failed"}}, 400),
    ("POST", "/admin/api/replay", {"json": {"kind": "webhook"}}, 400),
    ("POST", "/admin/api/replay", {"json": {"kind": "webhook", "status": "delivered"}}, 400),
    ("POST", "/admin/api/replay", {"json": {"kind": "webhook", "error_code": 21211}}, 400),
    ("POST", "/admin/api/replay", {"json": {"kind": "delivery", "sids": ["WC0123456789abcdef0123456789abcdef"]}}, 400),
    (
        "POST",
        "/admin/api/replay",
        {"json": {"sids": ["WC0123456789abcdef0123456789abcdef", "DY0123456789abcdef0123456789abcdef"]}},
        400,
    ),
    ("DELETE", "/admin/api/deliveries", {}, 405),
    ("GET", "/admin/api/replay", {}, 405),
    ("GET", "/admin/api/nothing-here", {}, 404),
]


@pytest.mark.parametrize(("method", "path", "extra", "status"), BAD_REQUESTS)
def test_bad_input_gets_a_json_error(
    live: LiveBridge, script: requests.Session, method: str, path: str, extra: dict[str, Any], status: int
) -> None:
    response = script.request(method, live.url + path, timeout=30, **extra)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["code"] and body["message"] and body["more_info"]
    assert [action for _, action in audit_actions(live)] == []  # refused requests changed nothing

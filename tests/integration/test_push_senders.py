"""The FCM and APNs senders against the fakes, answer by answer: what each platform's reply becomes (sent,
retried, failed, unregistered), the token grant and its reuse, and TLS client authentication."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.models import PushCredential
from bridge.push import apns, fcm
from bridge.push.payloads import NEW_MESSAGE, Push
from tests.integration import test_push
from tests.integration.test_push_resources import service_account_key
from tests.support.fake_push import FakeAPNs, FakeFCM
from tests.support.tls import LocalAuthority

fake_fcm, fake_apns = test_push.fake_fcm, test_push.fake_apns

PUSH = Push(message_type=NEW_MESSAGE, body="hello", conversation_sid="CH" + "0" * 32, message_index=1)


@pytest.fixture
def fcm_fake(fake_fcm: FakeFCM) -> Iterator[FakeFCM]:
    fake_fcm.reset()
    yield fake_fcm
    fake_fcm.reset()


@pytest.fixture
def apns_fake(fake_apns: FakeAPNs) -> Iterator[FakeAPNs]:
    fake_apns.reset()
    yield fake_apns
    fake_apns.reset()


def send_fcm(fake: FakeFCM, token: str, tokens: fcm.TokenCache | None = None, secret: str | None = None) -> fcm.Result:
    with httpx.Client(timeout=5) as http:
        key = fake.service_account_json() if secret is None else secret
        return fcm.send(http, tokens or fcm.TokenCache(), key, PUSH, token, fake.url)


def test_fcm_answers(fcm_fake: FakeFCM) -> None:
    tokens = fcm.TokenCache()
    grants = fcm_fake.grants
    assert send_fcm(fcm_fake, "ok", tokens).outcome == "sent"
    fcm_fake.unregistered.add("gone")
    assert (send_fcm(fcm_fake, "gone", tokens).outcome, send_fcm(fcm_fake, "gone", tokens).http_status) == (
        "unregistered",
        404,
    )
    fcm_fake.invalid.add("garbled")
    assert send_fcm(fcm_fake, "garbled", tokens).outcome == "unregistered"
    fcm_fake.fail_next, fcm_fake.retry_after = 1, 30
    retried = send_fcm(fcm_fake, "ok", tokens)
    assert (retried.outcome, retried.http_status, retried.retry_after) == ("retry", 500, 30.0)
    assert fcm_fake.grants == grants + 1  # one access token for all of them


def test_an_fcm_key_the_token_endpoint_refuses_fails_and_a_missing_one_too(fcm_fake: FakeFCM) -> None:
    other = json.loads(service_account_key())
    other["client_email"] = fcm_fake.client_email
    other["token_uri"] = fcm_fake.token_uri
    refused = send_fcm(fcm_fake, "ok", secret=json.dumps(other))  # signed with a key the fake does not know
    assert refused.outcome == "failed" and "invalid_grant" in (refused.error or "")
    assert send_fcm(fcm_fake, "ok", secret="").outcome == "failed"
    assert send_fcm(fcm_fake, "ok", secret='{"project_id": "x"}').outcome == "failed"
    assert fcm_fake.snapshot() == []


def test_an_fcm_access_token_refused_is_dropped_and_a_new_one_granted(fcm_fake: FakeFCM) -> None:
    tokens = fcm.TokenCache()
    grants = fcm_fake.grants
    assert send_fcm(fcm_fake, "ok", tokens).outcome == "sent"
    with fcm_fake.lock:
        fcm_fake.access_tokens.clear()  # as if FCM no longer took the token
    refused = send_fcm(fcm_fake, "ok", tokens)
    assert (refused.outcome, refused.http_status) == ("retry", 401)
    assert send_fcm(fcm_fake, "ok", tokens).outcome == "sent"
    assert fcm_fake.grants == grants + 2


def test_fcm_unreachable_is_retried(fcm_fake: FakeFCM) -> None:
    with httpx.Client(timeout=2) as http:
        result = fcm.send(http, fcm.TokenCache(), fcm_fake.service_account_json(), PUSH, "ok", "http://127.0.0.1:9")
    assert result.outcome == "retry" and "not reached" in (result.error or "")


def credential(apns_fake: FakeAPNs, certificate: str | None = None, key: str | None = None) -> PushCredential:
    return PushCredential(
        sid="CR" + "1" * 32,
        type="apn",
        sandbox=True,
        certificate=certificate if certificate is not None else apns_fake.client.certificate_pem,
        private_key=key if key is not None else apns_fake.client.key_pem,
    )


def test_apns_answers(apns_fake: FakeAPNs) -> None:
    clients = apns.Clients(5, str(apns_fake.ca_file))
    try:
        assert apns.send(clients, credential(apns_fake), PUSH, "device", apns_fake.url).outcome == "sent"
        apns_fake.bad_tokens.add("bad")
        bad = apns.send(clients, credential(apns_fake), PUSH, "bad", apns_fake.url)
        assert (bad.outcome, bad.http_status, bad.error) == ("unregistered", 400, "BadDeviceToken")
        apns_fake.fail_next = 1
        assert apns.send(clients, credential(apns_fake), PUSH, "device", apns_fake.url).outcome == "retry"
    finally:
        clients.close()
    [first] = apns_fake.snapshot()
    assert [r.token for r in apns_fake.refused] == ["bad", "device"]
    assert first.http_version == "2" and first.body["aps"] == {"alert": {"body": "hello"}}


def test_apns_refuses_a_certificate_it_did_not_issue(apns_fake: FakeAPNs, tmp_path: Path) -> None:
    stranger = LocalAuthority(tmp_path, "another CA").issue("someone else", server=False)
    clients = apns.Clients(5, str(apns_fake.ca_file))
    try:
        result = apns.send(
            clients, credential(apns_fake, stranger.certificate_pem, stranger.key_pem), PUSH, "device", apns_fake.url
        )
    finally:
        clients.close()
    assert result.outcome == "retry" and "not reached" in (result.error or "")
    assert apns_fake.snapshot() == []
    broken = apns.send(clients, credential(apns_fake, "not a certificate", "nor a key"), PUSH, "d", apns_fake.url)
    assert broken.outcome == "failed" and "not usable" in (broken.error or "")

"""Access tokens for chat clients: what twilio's AccessToken + ChatGrant mint verifies, and every way a token is
refused gets Twilio's code (20101-20107) with HTTP 401."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from click.testing import CliRunner
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant, VideoGrant
from twilio.rest import Client

from bridge import access_tokens, accounts
from bridge.access_tokens import ChatClient
from bridge.errors import BridgeError
from bridge.models import ApiKey
from tests.support.live import LiveBridge
from workers.cli import main as bridge_cli


@pytest.fixture
def key(live: LiveBridge) -> ApiKey:
    with live.database.transaction() as session:
        return accounts.create_api_key(session, "chat backend")


def verify(live: LiveBridge, token: str, now: datetime | None = None) -> ChatClient:
    with live.database.transaction() as session:
        return access_tokens.verify(session, token, live.account_sid, now)


def refusal(call: Callable[[], object]) -> tuple[int, int]:
    with pytest.raises(BridgeError) as info:
        call()
    return info.value.code, info.value.status


def minted(live: LiveBridge, key: ApiKey, service_sid: str | None = None, **options: object) -> AccessToken:
    token = AccessToken(live.account_sid, key.sid, key.secret, **options)  # type: ignore[arg-type]
    token.add_grant(ChatGrant(service_sid=service_sid))
    return token


def default_service_sid(live: LiveBridge) -> str:
    with live.database.transaction() as session:
        return accounts.default_service(session).sid


def test_a_token_twilio_mints_names_its_identity_and_service(live: LiveBridge, client: Client, key: ApiKey) -> None:
    service = client.conversations.v1.services.create(friendly_name="support")
    token = minted(live, key, service.sid, identity="alice", ttl=600).to_jwt()
    verified = verify(live, token)
    assert (verified.identity, verified.service_sid, verified.key_sid) == ("alice", service.sid, key.sid)
    assert abs((verified.expires_at - datetime.now(UTC)).total_seconds() - 600) < 5


def test_a_chat_grant_without_a_service_means_the_default_one(live: LiveBridge, key: ApiKey) -> None:
    token = minted(live, key, identity="bob").to_jwt()
    assert verify(live, token).service_sid == default_service_sid(live)


def test_expired_and_early_tokens_get_their_own_codes(live: LiveBridge, key: ApiKey) -> None:
    service = default_service_sid(live)
    token = minted(live, key, service, identity="alice", ttl=60).to_jwt()
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert refusal(lambda: verify(live, token, now=later)) == (access_tokens.EXPIRED, 401)
    early = minted(live, key, service, identity="alice", nbf=int(time.time()) + 600).to_jwt()
    assert refusal(lambda: verify(live, early)) == (access_tokens.NOT_YET_VALID, 401)
    issued_later = jwt.encode(
        {
            "iss": key.sid,
            "sub": live.account_sid,
            "iat": int(time.time()) + 600,
            "exp": int(time.time()) + 1200,
            "grants": {"identity": "alice", "chat": {"service_sid": service}},
        },
        key.secret,
        algorithm="HS256",
        headers={"cty": "twilio-fpa;v=1"},
    )
    assert refusal(lambda: verify(live, issued_later)) == (access_tokens.NOT_YET_VALID, 401)
    too_long = minted(live, key, service, identity="alice", ttl=25 * 3600).to_jwt()
    assert refusal(lambda: verify(live, too_long)) == (access_tokens.EXPIRED, 401)


def test_an_unknown_or_revoked_key_and_another_account_are_refused(live: LiveBridge, key: ApiKey) -> None:
    service = default_service_sid(live)
    other_account = AccessToken("AC" + "f" * 32, key.sid, key.secret, identity="alice")
    other_account.add_grant(ChatGrant(service_sid=service))
    assert refusal(lambda: verify(live, other_account.to_jwt())) == (access_tokens.INVALID_ISSUER_OR_SUBJECT, 401)
    unknown = AccessToken(live.account_sid, "SK" + "0" * 32, key.secret, identity="alice")
    unknown.add_grant(ChatGrant(service_sid=service))
    assert refusal(lambda: verify(live, unknown.to_jwt())) == (access_tokens.INVALID_ISSUER_OR_SUBJECT, 401)

    token = minted(live, key, service, identity="alice").to_jwt()
    assert verify(live, token).identity == "alice"
    runner = CliRunner(env=live.environment)
    revoked = runner.invoke(bridge_cli, ["keys", "revoke", key.sid])
    assert revoked.exit_code == 0, revoked.output
    assert refusal(lambda: verify(live, token)) == (access_tokens.INVALID_ISSUER_OR_SUBJECT, 401)
    assert runner.invoke(bridge_cli, ["keys", "revoke", key.sid]).exit_code != 0


def test_a_wrong_secret_is_a_bad_signature(live: LiveBridge, key: ApiKey) -> None:
    forged = AccessToken(live.account_sid, key.sid, "not-" + key.secret, identity="mallory")
    forged.add_grant(ChatGrant(service_sid=default_service_sid(live)))
    assert refusal(lambda: verify(live, forged.to_jwt())) == (access_tokens.INVALID_SIGNATURE, 401)


def _segment(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_headers_other_than_twilios_are_refused(live: LiveBridge, key: ApiKey) -> None:
    claims = {
        "iss": key.sid,
        "sub": live.account_sid,
        "exp": int(time.time()) + 600,
        "grants": {"identity": "mallory", "chat": {}},
    }
    unsigned = _segment({"alg": "none", "typ": "JWT", "cty": "twilio-fpa;v=1"}) + "." + _segment(claims) + "."
    wrong_algorithm = jwt.encode(claims, key.secret * 2, algorithm="HS512", headers={"cty": "twilio-fpa;v=1"})
    no_content_type = jwt.encode(claims, key.secret, algorithm="HS256")
    for token in (unsigned, wrong_algorithm, no_content_type):
        assert refusal(lambda token=token: verify(live, token)) == (access_tokens.INVALID_HEADER, 401)
    for garbage in ("", "abc", "a.b.c", "e30.e30.", "\x00" * 40):
        assert refusal(lambda garbage=garbage: verify(live, garbage))[0] in (
            access_tokens.INVALID_TOKEN,
            access_tokens.INVALID_HEADER,
        )


def test_grants_must_name_an_identity_and_a_service_of_the_account(live: LiveBridge, key: ApiKey) -> None:
    no_identity = minted(live, key, default_service_sid(live))
    assert refusal(lambda: verify(live, no_identity.to_jwt())) == (access_tokens.INVALID_GRANTS, 401)
    video_only = AccessToken(live.account_sid, key.sid, key.secret, identity="alice")
    video_only.add_grant(VideoGrant(room="lobby"))
    assert refusal(lambda: verify(live, video_only.to_jwt())) == (access_tokens.INVALID_GRANTS, 401)
    elsewhere = minted(live, key, "IS" + "0" * 32, identity="alice")
    assert refusal(lambda: verify(live, elsewhere.to_jwt())) == (access_tokens.INVALID_GRANTS, 401)


def test_bridge_token_prints_a_token_that_verifies(live: LiveBridge, client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="try it")
    runner = CliRunner(env=live.environment)
    printed = runner.invoke(bridge_cli, ["token", "--identity", "alice", "--service", service.sid, "--ttl", "120"])
    assert printed.exit_code == 0, printed.output
    verified = verify(live, printed.output.strip())
    assert (verified.identity, verified.service_sid) == ("alice", service.sid)
    again = runner.invoke(bridge_cli, ["token", "--identity", "bob"])
    assert verify(live, again.output.strip()).key_sid == verified.key_sid  # one key of its own, reused
    missing = runner.invoke(bridge_cli, ["token", "--identity", "alice", "--service", "IS" + "0" * 32])
    assert missing.exit_code != 0 and "not found" in missing.output

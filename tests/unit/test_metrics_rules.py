"""The rules behind the metrics: who may scrape, which token is acceptable, how a carrier call's outcome is named
and which channel a callback's address names."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from bridge.addresses import channel_named
from bridge.carriers.base import RATE_LIMITED, TIMEOUT, UNREACHABLE, CarrierError, classify
from bridge.config import ConfigurationError, Settings
from bridge.metrics import carrier_outcome
from bridge.metrics_scrape import authorized, presented_token

TOKEN = "metrics-token-0123456789"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", TOKEN),
        (f"bearer   {TOKEN}  ", TOKEN),
        (basic("metrics", TOKEN), TOKEN),
        (basic("metrics", "with:colon"), "with:colon"),
        (basic("admin", TOKEN), None),  # only the `metrics` username
        (basic("metrics", ""), ""),
        ("Basic not-base64!", None),
        ("Basic " + base64.b64encode(b"no colon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), None),
        (f"Token {TOKEN}", None),
        ("Bearer", None),
        ("", None),
    ],
)
def test_the_token_a_header_presents(header: str, expected: str | None) -> None:
    assert presented_token(header) == expected


def test_only_the_configured_token_is_authorized() -> None:
    assert authorized(f"Bearer {TOKEN}", TOKEN)
    assert authorized(basic("metrics", TOKEN), TOKEN)
    assert not authorized(f"Bearer {TOKEN}x", TOKEN)
    assert not authorized(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not authorized(None, TOKEN)
    assert not authorized("Bearer ", "")  # no token configured: nothing opens it, not even an empty one
    assert not authorized(basic("metrics", ""), "")


def settings(tmp_path: Path, **env: str) -> Settings:
    base = {"BRIDGE_INSTANCE_DIR": str(tmp_path), "BRIDGE_ACCOUNT_SID": "AC" + "1" * 32}
    base |= {"BRIDGE_AUTH_TOKEN": "auth-token-0123456789", "BRIDGE_ADMIN_PASSWORD": "admin-password-0123"}
    return Settings.from_env({**base, **env})


def test_the_metrics_token_is_its_own_secret(tmp_path: Path) -> None:
    assert settings(tmp_path).metrics_token == ""
    assert settings(tmp_path, BRIDGE_METRICS_TOKEN=TOKEN).metrics_token == TOKEN
    for reused in ("auth-token-0123456789", "admin-password-0123"):
        with pytest.raises(ConfigurationError, match="must differ"):
            settings(tmp_path, BRIDGE_METRICS_TOKEN=reused)
    with pytest.raises(ConfigurationError, match="at least 16"):
        settings(tmp_path, BRIDGE_METRICS_TOKEN="short")


def test_a_worker_metrics_port_needs_the_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="BRIDGE_METRICS_TOKEN"):
        settings(tmp_path, BRIDGE_METRICS_PORT="9200")
    served = settings(tmp_path, BRIDGE_METRICS_PORT="9200", BRIDGE_METRICS_TOKEN=TOKEN)
    assert (served.metrics_port, served.metrics_address) == (9200, "127.0.0.1")
    assert settings(tmp_path).metrics_port is None
    with pytest.raises(ConfigurationError, match="integer"):
        settings(tmp_path, BRIDGE_METRICS_PORT="ninety", BRIDGE_METRICS_TOKEN=TOKEN)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "ok"),
        (classify(400, 21211, "invalid number"), "rejected"),
        (classify(403, 20003, "forbidden"), "rejected"),
        (classify(429, None, "slow down"), "throttled"),
        (classify(400, RATE_LIMITED, "too many"), "throttled"),
        (classify(503, None, "unavailable"), "server_error"),
        (CarrierError(TIMEOUT, "timed out", retryable=True, maybe_accepted=True), "timeout"),
        (CarrierError(UNREACHABLE, "refused", retryable=True), "unreachable"),
        (CarrierError(20500, "internal error: KeyError", retryable=True), "error"),
        (KeyError("sid"), "error"),
    ],
)
def test_carrier_outcomes(error: BaseException | None, outcome: str) -> None:
    assert carrier_outcome(error) == outcome


@pytest.mark.parametrize(
    ("address", "channel"),
    [
        ("+14155550100", "sms"),
        ("whatsapp:+14155550100", "whatsapp"),
        (" WhatsApp:+14155550100", "whatsapp"),
        ("messenger:12345", "unknown"),
        ("", "unknown"),
    ],
)
def test_the_channel_a_callback_names(address: str, channel: str) -> None:
    assert channel_named(address) == channel

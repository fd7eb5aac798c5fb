"""The web chat page's Content-Security-Policy: scripts only from the bridge, connections only to the bridge, its
chat socket and its media service, wherever BRIDGE_GATEWAY_URL and PUBLIC_BASE_URL put them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bridge.config import Settings
from webhooks.webchat.policy import content_security_policy

SETTINGS = Settings(
    instance_dir=Path("/nonexistent"),
    database_url="sqlite://",
    redis_url=None,
    port=5000,
    public_base_url="https://bridge.example.com",
    account_sid="AC" + "0" * 32,
    auth_token="an-auth-token-0123456789",
)


def directives(settings: Settings) -> dict[str, list[str]]:
    parts = [part.strip().split() for part in content_security_policy(settings).split(";")]
    return {name: values for name, *values in parts}


def test_the_page_connects_to_the_bridge_its_socket_and_its_media_service_only() -> None:
    settings = dataclasses.replace(SETTINGS, gateway_url="wss://chat.example.com/v3/wsconnect")
    policy = directives(settings)
    assert policy["connect-src"] == ["'self'", "wss://chat.example.com/v3/wsconnect", "https://bridge.example.com"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "blob:", "data:", "https://bridge.example.com"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]


def test_without_a_gateway_url_the_socket_is_bridge_run_s_on_the_public_host() -> None:
    policy = directives(dataclasses.replace(SETTINGS, gateway_port=5001))
    assert policy["connect-src"] == [
        "'self'",
        "wss://bridge.example.com:5001/v3/wsconnect",
        "https://bridge.example.com",
    ]


def test_the_media_origin_drops_the_public_url_s_path() -> None:
    settings = dataclasses.replace(SETTINGS, public_base_url="http://10.0.0.5:8080/bridge")
    assert "http://10.0.0.5:8080" in directives(settings)["img-src"]
    assert not any("/bridge" in value for value in directives(settings)["img-src"])

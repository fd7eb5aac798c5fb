"""Integration fixtures: a live bridge reset before each test, clients for it, and the spec check after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.rest import Client

from bridge.client import bridge_client
from tests.support.live import LiveBridge


@pytest.fixture(autouse=True)
def live(bridge: LiveBridge) -> Iterator[LiveBridge]:
    """Every integration test starts from a first-start database and ends with spec-conformant responses."""
    bridge.reset()
    bridge.checker.take()
    yield bridge
    problems = bridge.checker.take()
    assert not problems, "responses that break Twilio's spec:\n" + "\n".join(problems)


@pytest.fixture
def client(live: LiveBridge) -> Client:
    """The official twilio package, unmodified, pointed at the bridge."""
    return bridge_client(live.url, live.account_sid, live.auth_token)


class Api:
    """Raw HTTP against the bridge, for status codes and error bodies (twilio's list calls hide them)."""

    def __init__(self, live: LiveBridge) -> None:
        self.base = live.url
        self.http = requests.Session()
        self.http.auth = (live.account_sid, live.auth_token)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, data=data, timeout=30, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.delete(self.base + path, timeout=30, **kwargs)


@pytest.fixture
def api(live: LiveBridge) -> Api:
    return Api(live)


@pytest.fixture
def sender_pool(client: Client) -> dict[str, str]:
    """Adds SMS and WhatsApp senders to the default Messaging Service and returns them."""
    configuration = client.conversations.v1.configuration().fetch()
    pool = client.messaging.v1.services(configuration.default_messaging_service_sid)
    numbers = {"sms": "+12015550100", "sms2": "+12015550101", "whatsapp": "whatsapp:+12015550102"}
    for address in numbers.values():
        pool.phone_numbers.create(phone_number_sid=address)
    return numbers

"""Where the Twilio adapter sends its requests: api.twilio.com to TWILIO_API_BASE_URL, and messaging.twilio.com
(the account's Messaging Services and WhatsApp senders) there too when that URL is not Twilio's own, but never
to api.twilio.com in production."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from bridge.carriers.twilio import _RoutedHttpClient


@pytest.fixture
def requested(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []

    def record(self: TwilioHttpClient, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        urls.append(url)
        return Response(200, "{}", headers={})

    monkeypatch.setattr(TwilioHttpClient, "request", record)
    return urls


@pytest.mark.parametrize(
    ("base", "url", "expected"),
    [
        (
            "https://api.twilio.com",
            "https://messaging.twilio.com/v1/Services?PageSize=50&Page=1",
            "https://messaging.twilio.com/v1/Services?PageSize=50&Page=1",
        ),
        (
            "https://api.twilio.com",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json",
        ),
        (
            "http://127.0.0.1:8080/twilio",
            "https://messaging.twilio.com/v2/Channels/Senders?Channel=whatsapp",
            "http://127.0.0.1:8080/twilio/v2/Channels/Senders?Channel=whatsapp",
        ),
        (
            "http://127.0.0.1:8080",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
            "http://127.0.0.1:8080/2010-04-01/Accounts/AC1/Messages.json",
        ),
        (
            "http://127.0.0.1:8080",
            "https://conversations.twilio.com/v1/Conversations",
            "https://conversations.twilio.com/v1/Conversations",
        ),
    ],
)
def test_requests_go_where_the_base_url_says(requested: list[str], base: str, url: str, expected: str) -> None:
    _RoutedHttpClient(base, timeout=5).request("GET", url)
    assert requested == [expected]

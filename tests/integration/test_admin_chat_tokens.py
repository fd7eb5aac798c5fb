"""`/admin/chat`: a signed-in admin opens the web chat page as an identity of a service, with an access token the
console mints and hands over in the URL's fragment; every token minted is audited."""

from __future__ import annotations

from urllib.parse import urlsplit

from twilio.rest import Client

from bridge import access_tokens, accounts
from tests.integration.test_admin_api import (
    Console,
    admin_credentials,
    audit_actions,
    fresh_sign_in_limits,  # noqa: F401 - an autouse fixture
)
from tests.support.live import LiveBridge


def signed_in(live: LiveBridge) -> Console:
    console = Console(live)
    assert console.sign_in(*admin_credentials(live)).status_code == 302
    return console


def test_the_console_mints_a_token_for_an_identity_and_opens_the_chat_page_with_it(
    live: LiveBridge, client: Client
) -> None:
    console = signed_in(live)
    other = client.conversations.v1.services.create(friendly_name="Sales desk")
    page = console.get("/admin/chat")
    assert page.status_code == 200
    assert "Sales desk" in page.text and other.sid in page.text
    form = {"csrf_token": console.token("/admin/chat"), "service": other.sid, "identity": "agent-alice", "ttl": "3600"}
    opened = console.post("/admin/chat", form)
    assert opened.status_code == 303
    location = urlsplit(opened.headers["Location"])
    assert location.path == "/chat" and not location.query  # the token travels in the fragment only
    name, _, token = location.fragment.partition("=")
    assert name == "token"
    with live.database.transaction() as session:
        chat_client = access_tokens.verify(session, token, live.account_sid)
    assert (chat_client.identity, chat_client.service_sid) == ("agent-alice", other.sid)
    assert (admin_credentials(live)[0], "chat-token") in audit_actions(live)


def test_a_bad_identity_service_lifetime_or_missing_csrf_token_mints_nothing(live: LiveBridge) -> None:
    console = signed_in(live)
    with live.database.transaction() as session:
        default_sid = accounts.default_service(session).sid
    good = {"csrf_token": console.token("/admin/chat"), "service": default_sid, "identity": "bob", "ttl": "3600"}
    before = audit_actions(live).count((admin_credentials(live)[0], "chat-token"))
    for changes, status in [
        ({"identity": "  "}, 400),
        ({"identity": "x" * 257}, 400),
        ({"ttl": "99999999"}, 400),
        ({"service": "IS" + "0" * 32}, 404),
        ({"csrf_token": ""}, 400),
    ]:
        refused = console.post("/admin/chat", {**good, **changes})
        assert refused.status_code == status, (changes, refused.status_code)
        assert "Location" not in refused.headers
    assert audit_actions(live).count((admin_credentials(live)[0], "chat-token")) == before


def test_without_signing_in_there_is_no_token(live: LiveBridge) -> None:
    anonymous = Console(live)
    assert anonymous.get("/admin/chat").status_code == 302
    answer = anonymous.post("/admin/chat", {"identity": "mallory"})
    assert answer.status_code in (302, 400)
    assert "#token=" not in answer.headers.get("Location", "")


def test_without_a_service_the_token_is_for_the_default_one(live: LiveBridge) -> None:
    console = signed_in(live)
    opened = console.post("/admin/chat", {"csrf_token": console.token("/admin/chat"), "identity": "carol"})
    assert opened.status_code == 303
    token = urlsplit(opened.headers["Location"]).fragment.partition("=")[2]
    with live.database.transaction() as session:
        chat_client = access_tokens.verify(session, token, live.account_sid)
        assert chat_client.service_sid == accounts.default_service(session).sid

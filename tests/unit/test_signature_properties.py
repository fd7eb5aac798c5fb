"""Carrier webhook signatures, as properties.

- twilio's RequestValidator: what it computes for any URL (percent-escapes, repeated keys) and any form, it
  validates, and nothing signed with another token;
- the bridge's check (webhooks/carriers/twilio.py, `_signed_url`), through the Flask test client: a request signed
  as Twilio signs it (the public URL with the query string exactly as sent, every form field) is accepted whatever
  its query string and form, and a request changed after signing, or signed otherwise, is refused.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

CARRIER_TOKEN = "carrier-token-0123456789abcdef"
STATUS_PATH = (
    "/webhooks/twilio/status/DY" + "0" * 32
)  # no such delivery: a signed callback is a 200 that changes nothing
FORM = "application/x-www-form-urlencoded"

# A query string as a client may write it: unreserved characters, the delimiters a query may carry raw, `+`, and
# percent-escapes in either case (%2F and %2f are different strings to sign).
ESCAPE = st.integers(0, 255).flatmap(lambda b: st.sampled_from([f"%{b:02X}", f"%{b:02x}"]))
RAW = st.sampled_from(list(string.ascii_letters + string.digits + "-._~!$'()*,;:@/?+"))
COMPONENT = st.lists(st.one_of(RAW, ESCAPE), max_size=8).map("".join)
KEY = st.one_of(st.sampled_from(["a", "To", "x%20y", "A"]), COMPONENT.filter(bool))  # a small pool: repeats
QUERY = st.lists(st.tuples(KEY, COMPONENT), max_size=5).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))

# Form fields: Twilio's names and any others, repeated keys, any text but NUL (which the bridge refuses whole).
VALUE = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
FIELD = st.one_of(st.sampled_from(["MessageSid", "MessageStatus", "ErrorCode", "To", "Body"]), VALUE.filter(bool))
FIELDS = st.lists(st.tuples(FIELD, VALUE), max_size=8)

HOST = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}\Z")
URL = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}/{path}" + (f"?{query}" if query else ""),
    st.sampled_from(["http", "https"]),
    HOST,
    st.sampled_from(["", ":8443", ":5000"]),
    # Not ending in `;`: the validator rebuilds the URL through urlparse, which drops an empty `;params` part, so
    # it cannot validate such a URL. The bridge's webhook paths end in a fixed name or a SID, never in `;`.
    st.lists(COMPONENT.filter(lambda c: "?" not in c), max_size=3).map("/".join).filter(lambda p: not p.endswith(";")),
    QUERY,
)


def sign(url: str, fields: list[tuple[str, str]], token: str = CARRIER_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, MultiDict(fields))


@given(URL, FIELDS, st.text(min_size=1, max_size=40))
def test_what_the_validator_computes_it_validates(url: str, fields: list[tuple[str, str]], token: str) -> None:
    signature = sign(url, fields, token)
    assert RequestValidator(token).validate(url, MultiDict(fields), signature)
    assert not RequestValidator(token + "x").validate(url, MultiDict(fields), signature)
    assert not RequestValidator(token).validate(url, MultiDict([*fields, ("Tampered", "1")]), signature)


# --- the bridge's own check, through the Flask test client --------------------------------------------------------


@pytest.fixture(scope="module", params=["https://bridge.example.com", "http://127.0.0.1:8080"])
def public_url(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def client(public_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    import os

    from bridge.config import Settings
    from bridge.migrate import upgrade
    from webhooks import create_app

    folder: Path = tmp_path_factory.mktemp("signatures")
    settings = Settings.from_env(
        {
            "BRIDGE_INSTANCE_DIR": str(folder),
            "DATABASE_URL": f"sqlite:///{folder / 'bridge.db'}",
            "REDIS_URL": os.environ["REDIS_URL"],
            "PUBLIC_BASE_URL": public_url,
            "BRIDGE_ACCOUNT_SID": "AC" + "0" * 32,
            "BRIDGE_AUTH_TOKEN": "bridge-token-0123456789abcdef",
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": CARRIER_TOKEN,
            "LOG_LEVEL": "ERROR",
        }
    )
    upgrade(settings.database_url)
    app = create_app(settings)
    yield app.test_client()
    app.extensions["bridge.database"].dispose()


def post(client: FlaskClient, query: str, fields: list[tuple[str, str]], signature: str) -> int:
    response = client.post(
        STATUS_PATH,
        query_string=query,  # as sent, not re-encoded
        data=urlencode(fields),
        content_type=FORM,
        headers={"X-Twilio-Signature": signature},
    )
    return response.status_code


ANSWERS = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])


@ANSWERS
@given(QUERY, FIELDS)
def test_a_request_signed_as_twilio_signs_it_is_accepted(
    client: FlaskClient, public_url: str, query: str, fields: list[tuple[str, str]]
) -> None:
    url = public_url + STATUS_PATH + (f"?{query}" if query else "")
    assert post(client, query, fields, sign(url, fields)) == 200


@ANSWERS
@given(QUERY, FIELDS, st.sampled_from(["field added", "query changed", "other token", "no query", "decoded query"]))
def test_a_request_changed_after_signing_or_signed_otherwise_is_refused(
    client: FlaskClient, public_url: str, query: str, fields: list[tuple[str, str]], change: str
) -> None:
    url = public_url + STATUS_PATH + (f"?{query}" if query else "")
    sent_query, sent_fields, signature = query, fields, sign(url, fields)
    if change == "field added":
        sent_fields = [*fields, ("Tampered", "1")]
    elif change == "query changed":
        sent_query = f"{query}&tampered=1" if query else "tampered=1"
    elif change == "other token":
        signature = sign(url, fields, "bridge-token-0123456789abcdef")
    elif change == "no query":  # signed without the query string the request carries
        assume(query)
        signature = sign(public_url + STATUS_PATH, fields)
    else:  # signed over the decoded query (what Werkzeug's request.url shows), not the one sent
        decoded = unquote(query)
        assume(decoded != query)
        signature = sign(f"{public_url}{STATUS_PATH}?{decoded}", fields)
    assert post(client, sent_query, sent_fields, signature) == 403

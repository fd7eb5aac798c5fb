"""Temporary media URLs without I/O: the signed expiry, what makes one expired, and what makes one forged."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bridge.media import TEMPORARY_URL_SECONDS, temporary_token, temporary_url, token_state, url_token
from bridge.sids import new_sid
from tests.unit.test_media_rules import SETTINGS

ISSUED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SID = "ME" + "ab" * 16


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_the_url_names_the_sid_and_its_expiry() -> None:
    url = temporary_url(SETTINGS, SID, ISSUED)
    expires = int(ISSUED.timestamp()) + TEMPORARY_URL_SECONDS
    assert url.startswith(f"https://bridge.example.com/media/{SID}/{expires}.")
    assert token_of(url) == temporary_token(SETTINGS, SID, expires)


def test_it_works_until_it_expires_and_not_after() -> None:
    token = token_of(temporary_url(SETTINGS, SID, ISSUED))
    last_moment = ISSUED + timedelta(seconds=TEMPORARY_URL_SECONDS - 1)
    assert token_state(SETTINGS, SID, token, ISSUED) == "valid"
    assert token_state(SETTINGS, SID, token, last_moment) == "valid"
    assert token_state(SETTINGS, SID, token, ISSUED + timedelta(seconds=TEMPORARY_URL_SECONDS)) == "expired"


def test_the_public_token_still_never_expires() -> None:
    assert token_state(SETTINGS, SID, url_token(SETTINGS, SID), ISSUED + timedelta(days=3650)) == "valid"


def test_a_later_expiry_another_sid_or_another_auth_token_is_forged() -> None:
    token = token_of(temporary_url(SETTINGS, SID, ISSUED))
    expires, mac = token.split(".")
    rotated = replace(SETTINGS, auth_token="a-new-auth-token-9876543210")
    assert token_state(SETTINGS, SID, f"{int(expires) + 3600}.{mac}", ISSUED) == "invalid"
    assert token_state(SETTINGS, "ME" + "cd" * 16, token, ISSUED) == "invalid"
    assert token_state(rotated, SID, token, ISSUED) == "invalid"
    # Forged and run out at once: still forged, so an expired answer never vouches for a signature.
    assert token_state(SETTINGS, SID, f"{int(expires) - 3600}.{mac}", ISSUED + timedelta(days=1)) == "invalid"


@given(st.text(max_size=60))
def test_no_arbitrary_token_is_accepted(candidate: str) -> None:
    assert token_state(SETTINGS, new_sid("ME"), candidate, ISSUED) == "invalid"

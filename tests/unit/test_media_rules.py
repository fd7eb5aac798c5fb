"""Media rules without I/O: content types, file names, and the public URL's token."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config import Settings
from bridge.errors import BridgeError
from bridge.media import clean_content_type, clean_filename, public_url, token_matches, url_token
from bridge.sids import new_sid

SETTINGS = Settings(
    instance_dir=Path("/nonexistent"),
    database_url="sqlite://",
    redis_url=None,
    port=5000,
    public_base_url="https://bridge.example.com",
    account_sid="AC" + "0" * 32,
    auth_token="an-auth-token-0123456789",
)


@pytest.mark.parametrize(
    ("given_type", "cleaned"),
    [
        ("image/jpeg", "image/jpeg"),
        ("Image/PNG", "image/png"),
        ("  video/mp4  ", "video/mp4"),
        ("text/plain; charset=UTF-8", "text/plain; charset=utf-8"),
        ('text/vcard; charset="utf-8"; profile=x', "text/vcard; charset=utf-8"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
        ("audio/amr; codec=x", "audio/amr"),
    ],
)
def test_content_types_are_normalised(given_type: str, cleaned: str | None) -> None:
    assert clean_content_type(given_type) == (cleaned or given_type)


@pytest.mark.parametrize(
    "bad", [None, "", "   ", "image", "image/", "/jpeg", "image/jp eg", "image/jpeg/x", "../etc/passwd", "ima\x00ge/x"]
)
def test_malformed_content_types_are_refused(bad: str | None) -> None:
    with pytest.raises(BridgeError) as refused:
        clean_content_type(bad)
    assert refused.value.status == 400


def test_an_overlong_content_type_is_refused() -> None:
    with pytest.raises(BridgeError):
        clean_content_type("application/" + "x" * 120)


@pytest.mark.parametrize(
    ("given_name", "cleaned"),
    [
        (None, None),
        ("", None),
        ("photo.jpg", "photo.jpg"),
        ("C:\\fakepath\\photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("dir/", None),
        ("été 2024.png", "été 2024.png"),
        ("x" * 256, "x" * 256),
    ],
)
def test_filenames_keep_only_the_name(given_name: str | None, cleaned: str | None) -> None:
    assert clean_filename(given_name) == cleaned


@pytest.mark.parametrize("bad", ["x" * 257, "a\x00b.jpg", "line\nbreak.png", "tab\t.png", "del\x7f.png"])
def test_overlong_or_control_character_filenames_are_refused(bad: str) -> None:
    with pytest.raises(BridgeError) as refused:
        clean_filename(bad)
    assert refused.value.status == 400


def test_public_url_shape() -> None:
    sid = new_sid("ME")
    url = public_url(SETTINGS, sid)
    match = re.fullmatch(r"https://bridge\.example\.com/media/(ME[0-9a-f]{32})/([A-Za-z0-9_-]+)", url)
    assert match is not None and match.group(1) == sid
    assert len(match.group(2)) >= 22
    assert token_matches(SETTINGS, sid, match.group(2))


@given(st.uuids(), st.uuids())
def test_tokens_differ_per_sid(first: object, second: object) -> None:
    sid_a, sid_b = f"ME{first.hex}", f"ME{second.hex}"  # type: ignore[attr-defined]
    if sid_a != sid_b:
        assert url_token(SETTINGS, sid_a) != url_token(SETTINGS, sid_b)
        assert not token_matches(SETTINGS, sid_b, url_token(SETTINGS, sid_a))


@given(st.text(max_size=40))
def test_only_the_exact_token_matches(candidate: str) -> None:
    sid = "ME" + "ab" * 16
    assert token_matches(SETTINGS, sid, candidate) == (candidate == url_token(SETTINGS, sid))


def test_a_new_auth_token_invalidates_old_urls() -> None:
    sid = new_sid("ME")
    rotated = replace(SETTINGS, auth_token="a-different-token-987654321")
    assert not token_matches(rotated, sid, url_token(SETTINGS, sid))
    assert url_token(SETTINGS, sid) == url_token(replace(SETTINGS), sid)  # stable across restarts

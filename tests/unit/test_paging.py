"""PageToken encoding: tokens round-trip, and anything else a client sends is a clean 400 (code 20001)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.errors import BridgeError
from bridge.paging import decode_token, encode_token

# The keys are BIGINT primary keys: signed 64-bit.
KEYS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
DIRECTIONS = st.sampled_from(["after", "before"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=10,
)


def token_of(raw: bytes) -> str:
    """A token built the way the bridge builds them, around any payload."""
    return "PT" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def assert_refused(token: str) -> None:
    with pytest.raises(BridgeError) as caught:
        decode_token(token)
    assert (caught.value.code, caught.value.status) == (20001, 400)


@given(direction=DIRECTIONS, key=KEYS)
@settings(max_examples=100)
def test_tokens_round_trip(direction: str, key: int) -> None:
    token = encode_token(direction, key)
    assert decode_token(token) == (direction, key)
    # Tokens travel in query strings: only URL-safe characters, no padding.
    assert token.isascii() and not set(token) - set(
        "PT" + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


@given(st.text(max_size=60))
@example("")
@example("PT")
@example("PT====")
@example("pt" + encode_token("after", 1)[2:])  # the prefix is case-sensitive
@example(encode_token("after", 1)[:-3])  # truncated
@settings(max_examples=200)
def test_any_text_is_a_token_or_a_400(text: str) -> None:
    try:
        direction, key = decode_token(text)
    except BridgeError as error:
        assert (error.code, error.status) == (20001, 400)
    else:
        assert direction in ("after", "before") and isinstance(key, int)


@given(st.binary(max_size=80))
@settings(max_examples=200)
def test_any_payload_behind_the_prefix_is_a_token_or_a_400(payload: bytes) -> None:
    try:
        decode_token(token_of(payload))
    except BridgeError as error:
        assert error.code == 20001


@given(JSON_VALUES)
@settings(max_examples=200)
def test_well_formed_json_of_the_wrong_shape_is_a_400(value: object) -> None:
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and value[0] in ("after", "before")
        and type(value[1]) is int
        and -(2**63) <= value[1] < 2**63
    )
    if valid:
        return
    assert_refused(token_of(json.dumps(value).encode()))


@pytest.mark.parametrize(
    "payload",
    [
        b'["after", true]',  # bool is an int to Python, not a key
        b'["after", 1.0]',
        b'["after", NaN]',
        b'["after", "1"]',
        b'["sideways", 1]',
        b'["after", 1, 2]',
        b'{"after": 1}',
        b'"af"',
        b"[" * 100_000,  # nesting deep enough to exhaust the parser's recursion
        json.dumps(["after", 2**63]).encode(),  # past BIGINT: the database cannot compare with it
        json.dumps(["before", -(2**63) - 1]).encode(),
        json.dumps(["after", 10**400]).encode(),
        '["after", 1]'.encode("utf-16"),
    ],
)
def test_structured_garbage_is_a_400(payload: bytes) -> None:
    assert_refused(token_of(payload))


def test_non_ascii_and_nul_are_a_400() -> None:
    for token in ("PT\u00e9\u00e9", "PT\x00", encode_token("after", 5) + "\x00", "PT\ud800"):
        assert_refused(token)

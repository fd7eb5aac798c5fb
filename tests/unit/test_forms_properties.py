"""`webhooks.forms.Params`, as properties: whatever a client sends, reading a parameter gives its value or a
BridgeError (a 400), never another exception; dotted and repeated keys arrive as sent, through Werkzeug's own form
parsing; booleans, integers and dates read back what was written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from bridge.errors import BridgeError
from bridge.timeutil import iso
from bridge.validation import UNSET
from webhooks.forms import FALSE, TRUE, Params

# Twilio-style names: PascalCase words, dotted for nesting (MessagingBinding.Address, Timers.Inactive).
WORD = st.from_regex(r"\A[A-Z][a-zA-Z0-9]{0,11}\Z")
NAMES = st.lists(WORD, min_size=1, max_size=3).map(".".join)
TEXT = st.text(st.characters(codec="utf-8"), max_size=30)  # any text a form can carry, NUL included
ANY_NAME = st.one_of(NAMES, TEXT.filter(bool))
PAIRS = st.lists(st.tuples(ANY_NAME, TEXT), max_size=12)

READERS: dict[str, Callable[[Params, str], Any]] = {
    "str": Params.str,
    "given": Params.given,
    "required": Params.required,
    "bool": Params.bool,
    "int": lambda p, n: p.int(n, minimum=0, maximum=1000),
    "datetime": Params.datetime,
    "list": Params.list,
}


def posted(pairs: list[tuple[str, str]]) -> Params:
    """The pairs as a client posts them (form-encoded, repeated keys repeated), parsed as the bridge parses them."""
    body = urlencode(pairs).encode()
    environ = EnvironBuilder(
        method="POST", data=body, content_type="application/x-www-form-urlencoded", path="/v1/Conversations"
    ).get_environ()
    return Params(Request(environ).form)


@settings(max_examples=300)
@given(PAIRS, st.sampled_from(sorted(READERS)), ANY_NAME)
@example([("Timers.Inactive", "\x00")], "str", "Timers.Inactive")
@example([("PageSize", "9" * 5000)], "int", "PageSize")
@example([("PageSize", "\u00b2")], "int", "PageSize")
@example([("StartDate", "9999-12-31T23:59:59-01:00")], "datetime", "StartDate")
def test_reading_any_parameter_gives_a_value_or_a_400(pairs: list[tuple[str, str]], reader: str, name: str) -> None:
    params = posted(pairs)
    for target in {name, *(n for n, _ in pairs)}:
        try:
            READERS[reader](params, target)
        except BridgeError as error:
            assert error.status == 400 and error.code == 20001


@given(PAIRS, NAMES)
def test_dotted_and_repeated_keys_arrive_as_sent(pairs: list[tuple[str, str]], name: str) -> None:
    pairs = [*pairs, (name, "first"), (name, "second")]
    params = posted(pairs)
    sent = [v for n, v in pairs if n == name]
    if any("\x00" in v for v in sent):
        with pytest.raises(BridgeError):
            params.list(name)
        return
    assert params.list(name) == sent  # all of them, in order
    assert params.str(name) == sent[0]  # a single read takes the first, as Twilio does
    assert name in params


@given(NAMES, PAIRS)
def test_a_parameter_not_sent_is_absent_not_empty(name: str, pairs: list[tuple[str, str]]) -> None:
    params = posted([(n, v) for n, v in pairs if n != name])
    assert params.str(name) is None
    assert params.given(name) is UNSET
    assert params.bool(name) is UNSET and params.int(name) is UNSET and params.datetime(name) is UNSET
    assert params.list(name) == []
    with pytest.raises(BridgeError):
        params.required(name)


@given(st.sampled_from([*TRUE, *FALSE]), st.sampled_from([str.lower, str.upper, str.title]), st.sampled_from(["", " "]))
def test_booleans_in_any_case_and_padding(word: str, case: Callable[[str], str], pad: str) -> None:
    assert posted([("Enabled", pad + case(word) + pad)]).bool("Enabled") is (word in TRUE)


@given(TEXT.filter(lambda t: t.strip().lower() not in (*TRUE, *FALSE, "") and "\x00" not in t))
def test_any_other_boolean_is_a_400(text: str) -> None:
    with pytest.raises(BridgeError):
        posted([("Enabled", text)]).bool("Enabled")


@given(st.integers(-(10**30), 10**30), st.integers(-100, 100), st.integers(-100, 100))
def test_integers_read_back_and_ranges_hold(number: int, low: int, high: int) -> None:
    params = posted([("PageSize", f" {number} ")])
    if low <= number <= high:
        assert params.int("PageSize", minimum=low, maximum=high) == number
    else:
        with pytest.raises(BridgeError):
            params.int("PageSize", minimum=low, maximum=high)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_dates_read_back_what_the_bridge_writes(moment: datetime) -> None:
    written = iso(moment)
    assert written is not None
    assert posted([("DateCreated", written)]).datetime("DateCreated") == moment.replace(microsecond=0, tzinfo=UTC)

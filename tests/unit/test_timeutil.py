"""Times as Twilio writes them, and the ISO-8601 durations of conversation timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.errors import BridgeError
from bridge.timeutil import iso, parse_datetime, parse_duration, retry_after_seconds
from bridge.validation import timer

# --- durations ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1M", timedelta(minutes=1)),
        ("PT10M", timedelta(minutes=10)),
        ("PT90S", timedelta(seconds=90)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2DT3H4M5S", timedelta(days=2, hours=3, minutes=4, seconds=5)),
        ("P0D", timedelta(0)),
        ("pt5m", timedelta(minutes=5)),
        ("  PT5M\n", timedelta(minutes=5)),
    ],
)
def test_durations_that_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "P1DT",  # a time designator with no time after it
        "1M",
        "PT1",
        "PT1.5M",  # fractions are ISO-8601 but not what Twilio's timers take
        "PT-1M",
        "P1W",
        "P1Y",
        "PT1M1H",  # out of order
        "PT1M PT1M",
        "PT1M\nPT2M",
        "PT\u0663M",  # ARABIC-INDIC DIGIT THREE: \d would match it
        "PT1\u017f",  # LATIN SMALL LETTER LONG S: upper() would make it "S"
        "P" + "9" * 20 + "D",  # beyond timedelta's range
        "PT" + "9" * 5000 + "S",  # beyond int()'s default digit limit
    ],
)
def test_durations_that_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(
    days=st.integers(0, 9999),
    hours=st.integers(0, 99),
    minutes=st.integers(0, 999),
    seconds=st.integers(0, 9999),
    parts=st.sets(st.sampled_from(["D", "H", "M", "S"]), min_size=1),
)
@settings(max_examples=150)
def test_written_durations_read_back(days: int, hours: int, minutes: int, seconds: int, parts: set[str]) -> None:
    values = {"D": days, "H": hours, "M": minutes, "S": seconds}
    time_part = "".join(f"{values[p]}{p}" for p in "HMS" if p in parts)
    text = "P" + (f"{days}D" if "D" in parts else "") + (f"T{time_part}" if time_part else "")
    expected = timedelta(
        **{
            name: values[p]
            for p, name in zip("DHMS", ("days", "hours", "minutes", "seconds"), strict=True)
            if p in parts
        }
    )
    assert parse_duration(text) == expected


@given(st.text(max_size=30))
@example("P" + "9" * 30 + "D")
@settings(max_examples=300)
def test_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError:
        return
    assert value >= timedelta(0)
    assert text.strip().isascii()


# --- timer validation (minimums: one minute inactive, ten closed) ---------------------------------------


def test_timers_at_their_minimum_are_kept_in_upper_case() -> None:
    assert timer("PT1M", "Timers.Inactive", timedelta(minutes=1)) == "PT1M"
    assert timer(" pt10m ", "Timers.Closed", timedelta(minutes=10)) == "PT10M"
    assert timer("PT600S", "Timers.Closed", timedelta(minutes=10)) == "PT600S"


@pytest.mark.parametrize(
    ("text", "minimum"),
    [
        ("PT59S", timedelta(minutes=1)),
        ("PT9M", timedelta(minutes=10)),
        ("PT0M", timedelta(minutes=1)),
        ("soon", timedelta(minutes=1)),
        ("PT" + "0" * 70 + "10M", timedelta(minutes=10)),  # wider than the 64-character column
        ("P" + "9" * 30 + "D", timedelta(minutes=1)),
    ],
)
def test_timers_below_their_minimum_or_malformed_are_a_400(text: str, minimum: timedelta) -> None:
    with pytest.raises(BridgeError) as caught:
        timer(text, "DefaultInactiveTimer", minimum)
    assert (caught.value.code, caught.value.status) == (20001, 400)


# --- dates ----------------------------------------------------------------------------------------------


def test_iso_writes_utc_to_the_second_with_a_z() -> None:
    aware = datetime(2024, 1, 31, 13, 0, 5, 999_999, tzinfo=timezone(timedelta(hours=1)))
    naive = datetime(2024, 1, 31, 12, 0, 5)

    assert iso(aware) == "2024-01-31T12:00:05Z"
    assert iso(naive) == "2024-01-31T12:00:05Z"  # naive values are UTC (SQLite hands them back so)
    assert iso(None) is None


@pytest.mark.parametrize(
    "text",
    ["2024-01-31T12:00:05Z", "2024-01-31T12:00:05z", "2024-01-31T12:00:05.250Z", "2024-01-31T14:00:05+02:00"],
)
def test_parse_datetime_accepts_twilio_and_iso_forms(text: str) -> None:
    parsed = parse_datetime(text)
    assert parsed.tzinfo is not None
    assert iso(parsed) == "2024-01-31T12:00:05Z"


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)))
@settings(max_examples=100)
def test_dates_round_trip_through_twilio_format(moment: datetime) -> None:
    written = iso(moment)
    assert written is not None
    assert parse_datetime(written) == moment.replace(microsecond=0)
    assert iso(parse_datetime(written)) == written


def test_a_date_time_past_the_last_instant_is_a_value_error_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_datetime("9999-12-31T23:59:59-01:00")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),  # an HTTP-date, 30 s after `now`
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),  # in the past: at once
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now) == seconds

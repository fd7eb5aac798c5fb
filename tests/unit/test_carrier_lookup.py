"""`accepted_earlier`: which of the carrier's listed messages is the send whose answer was lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.carriers.base import LOOKUP_SLACK, CarrierRecord, OutboundMessage, accepted_earlier
from bridge.carriers.simulator import SimulatorCarrier
from bridge.timeutil import utcnow

SINCE = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
TO, FROM = "+14155550101", "+12015550100"
SEND = OutboundMessage(from_address=FROM, to_address=TO, body="see you at 6")


def record(
    sid: str, *, body: str | None = "see you at 6", seconds: float = 1, to: str = TO, sender: str = FROM
) -> CarrierRecord:
    return CarrierRecord(sid, to, sender, body, SINCE + timedelta(seconds=seconds))


def test_the_unrecorded_message_with_the_same_text_is_the_one() -> None:
    assert accepted_earlier([record("SM1")], SEND, SINCE, frozenset()) == "SM1"


def test_nothing_listed_means_not_accepted() -> None:
    assert accepted_earlier([], SEND, SINCE, frozenset()) is None


def test_messages_the_bridge_recorded_are_never_taken() -> None:
    assert accepted_earlier([record("SM1")], SEND, SINCE, frozenset({"SM1"})) is None


def test_other_text_another_recipient_or_another_sender_is_not_it() -> None:
    others = [record("SM1", body="see you at 7"), record("SM2", to="+14155550199"), record("SM3", sender="+1201")]
    assert accepted_earlier(others, SEND, SINCE, frozenset()) is None


def test_older_than_the_attempt_beyond_the_slack_is_not_it() -> None:
    early = -LOOKUP_SLACK.total_seconds()
    assert accepted_earlier([record("SM1", seconds=early - 1)], SEND, SINCE, frozenset()) is None
    assert accepted_earlier([record("SM1", seconds=early + 1)], SEND, SINCE, frozenset()) == "SM1"


def test_the_oldest_of_several_copies_wins() -> None:
    copies = [record("SM3", seconds=30), record("SM1", seconds=2), record("SM2", seconds=10)]
    assert accepted_earlier(copies, SEND, SINCE, frozenset()) == "SM1"


def test_a_template_matches_whatever_text_the_carrier_rendered() -> None:
    template = OutboundMessage(from_address=FROM, to_address=TO, body=None, content_sid="HX" + "0" * 32)
    assert accepted_earlier([record("SM1", body="Your order shipped")], template, SINCE, frozenset()) == "SM1"


def test_a_media_only_send_matches_an_empty_body() -> None:
    media_only = OutboundMessage(from_address=FROM, to_address=TO, body=None, media_urls=["https://x/m"])
    assert accepted_earlier([record("MM1", body="")], media_only, SINCE, frozenset()) == "MM1"


def test_a_naive_since_is_read_as_utc() -> None:
    assert accepted_earlier([record("SM1")], SEND, SINCE.replace(tzinfo=None), frozenset()) == "SM1"


def test_the_simulator_finds_what_it_accepted(tmp_path: Path) -> None:
    simulator = SimulatorCarrier("AC" + "0" * 32, "token", tmp_path)
    since = utcnow()
    assert simulator.find_accepted(SEND, since, frozenset()) is None
    sid = simulator.send(SEND).carrier_message_sid
    assert simulator.find_accepted(SEND, since, frozenset()) == sid
    assert simulator.find_accepted(SEND, since, frozenset({sid})) is None

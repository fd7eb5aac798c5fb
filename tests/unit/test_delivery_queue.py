"""The queue gauges' series: the deepest senders by name, the rest summed into `other`, which is always there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.delivery_queue import OTHER, QueueLine, SenderQueue, by_sender

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def queue(sender: str, depth: int, waited: float) -> SenderQueue:
    return SenderQueue(sender, depth, NOW - timedelta(seconds=waited))


def test_nothing_waiting_is_one_zero_line() -> None:
    assert by_sender([], NOW, top=3) == [QueueLine(OTHER, 0, 0.0)]


def test_the_deepest_senders_by_name_and_the_rest_summed() -> None:
    found = [
        queue("+1201555010" + str(n), depth, waited)
        for n, (depth, waited) in enumerate([(1, 5), (9, 1), (4, 30), (4, 2)])
    ]
    assert by_sender(found, NOW, top=2) == [
        QueueLine("+12015550101", 9, 1.0),
        QueueLine("+12015550102", 4, 30.0),  # ties broken by sender, so the series stay put between scrapes
        QueueLine(OTHER, 5, 5.0),  # 4 + 1 deliveries; the oldest of them has waited 5 s
    ]
    assert sum(line.depth for line in by_sender(found, NOW, top=10)) == 18
    assert by_sender(found, NOW, top=10)[-1] == QueueLine(OTHER, 0, 0.0)


def test_a_clock_behind_the_database_never_gives_a_negative_age() -> None:
    assert by_sender([queue("+12015550100", 1, -3)], NOW, top=1)[0].oldest_age_seconds == 0.0

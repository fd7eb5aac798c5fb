"""The delivery state machine and backoff, as properties."""

from __future__ import annotations

import random
from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.delivery import (
    DELIVERED,
    FAILED,
    FINAL,
    PENDING,
    READ,
    SENDING,
    SENT,
    UNDELIVERED,
    advance,
    backoff_seconds,
)

RANK = {PENDING: 0, SENDING: 1, SENT: 2, DELIVERED: 3, READ: 4}
CALLBACKS = st.sampled_from(["queued", "sending", "sent", "delivered", "read", "undelivered", "failed", "bogus"])
STARTS = st.sampled_from([PENDING, SENDING, SENT])


@given(STARTS, st.lists(CALLBACKS, max_size=12))
def test_a_status_never_moves_backwards_and_final_stays_final(start: str, callbacks: list[str]) -> None:
    status = start
    for callback in callbacks:
        following = advance(status, callback)
        if status in FINAL:
            assert following == status
        elif following not in FINAL:
            assert RANK[following] >= RANK[status]
        status = following


@given(STARTS, st.lists(st.sampled_from(["sent", "delivered", "read"]), min_size=1, max_size=8), st.randoms())
def test_progress_callbacks_in_any_order_end_at_the_furthest(
    start: str, callbacks: list[str], rng: random.Random
) -> None:
    shuffled = list(callbacks)
    rng.shuffle(shuffled)
    furthest = max([start, *callbacks], key=lambda s: RANK[s])
    assert reduce(advance, shuffled, start) == furthest


def test_undelivered_after_delivered_is_ignored_but_before_it_is_final() -> None:
    assert advance(DELIVERED, "undelivered") == DELIVERED
    assert advance(SENT, "undelivered") == UNDELIVERED
    assert advance(UNDELIVERED, "delivered") == UNDELIVERED
    assert advance(FAILED, "read") == FAILED


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=30),
    st.floats(min_value=0.01, max_value=10),
    st.floats(min_value=1, max_value=3600),
    st.one_of(st.none(), st.floats(min_value=0, max_value=7200)),
    st.randoms(),
)
def test_backoff_grows_within_bounds_and_honours_retry_after(
    attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random
) -> None:
    delay = backoff_seconds(attempt, base, cap, retry_after, rng)
    ceiling = min(cap, base * 2 ** (attempt - 1))
    assert delay <= max(ceiling, min(retry_after or 0, cap)) + 1e-9
    assert delay >= ceiling / 2 - 1e-9
    if retry_after is not None:
        assert delay >= min(retry_after, cap) - 1e-9


def test_backoff_doubles_until_the_cap() -> None:
    rng = random.Random(7)
    ceilings = [max(backoff_seconds(n, 1.0, 60.0, None, rng) for _ in range(50)) for n in range(1, 9)]
    assert ceilings[0] <= 1.0 and ceilings[3] > 4.0 and ceilings[-1] <= 60.0

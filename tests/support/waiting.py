"""Polling with a deadline: tests wait for outcomes, never for fixed times."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, message: str = "") -> T:
    """Calls `check` until it returns something truthy, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s (last value: {last!r})")
        time.sleep(interval)
        last = check()
    return last

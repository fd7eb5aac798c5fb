"""The supervisor restarts children that die and gives up on one that cannot stay up (real processes)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bridge.supervisor import Supervisor


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def run_rounds(supervisor: Supervisor, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        verdict = supervisor.check()
        if verdict is not None:
            return verdict
        time.sleep(0.05)
    return None


def test_a_child_that_dies_is_started_again(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    # Dies after a moment, every time; counts its own starts.
    code = f"open({str(starts)!r}, 'a').write('x'); import time; time.sleep(0.3); raise SystemExit(3)"
    supervisor = Supervisor({"flaky": python(code)}, {}, healthy_after=0.2, first_pause=0.05, say=lambda _: None)
    supervisor.start()
    try:
        assert run_rounds(supervisor, 2.0) is None
    finally:
        supervisor.stop_all()
    assert supervisor.children["flaky"].restarts >= 2
    assert len(starts.read_text()) >= 3


def test_a_child_that_cannot_stay_up_stops_everything(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(
        {"broken": python("raise SystemExit(7)"), "steady": python("import time; time.sleep(60)")},
        {},
        healthy_after=5,
        max_quick_failures=3,
        first_pause=0.01,
        say=lines.append,
    )
    supervisor.start()
    try:
        assert run_rounds(supervisor, 10.0) == 7
    finally:
        supervisor.stop_all(grace=5)
    assert supervisor.children["steady"].process is not None
    assert supervisor.children["steady"].process.poll() is not None, "stop_all must stop the healthy child too"
    assert any("keeps exiting" in line for line in lines)

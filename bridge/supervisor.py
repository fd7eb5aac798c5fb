"""Keeps a set of child processes running, as a platform (Heroku, systemd) does for the Procfile's processes.

A child that dies is started again after a pause that doubles while it keeps dying quickly. One that cannot
stay up (it dies within `healthy_after` seconds, `max_quick_failures` times in a row: a bad port, a bad
configuration) stops everything, so a broken setup fails loudly instead of looping. Ctrl-C or SIGTERM stops
all children, politely first.

Why it matters: Celery workers on Redis can die on a broker hiccup (kombu raises an unrecoverable error
while restoring unacknowledged messages to a Redis that has just gone away). The rows in the database lose
nothing, but a dead worker delivers nothing until it is started again.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Child:
    name: str
    command: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    restarts: int = 0
    next_start_at: float | None = None


@dataclass
class Supervisor:
    commands: dict[str, Sequence[str]]
    env: dict[str, str]
    healthy_after: float = 10.0
    max_quick_failures: int = 5
    first_pause: float = 1.0
    longest_pause: float = 30.0
    say: Callable[[str], None] = print
    children: dict[str, Child] = field(default_factory=dict)
    stopping: bool = False

    def start(self) -> None:
        for name, command in self.commands.items():
            child = Child(name, command)
            self.children[name] = child
            self._launch(child)

    def _launch(self, child: Child) -> None:
        child.process = subprocess.Popen(list(child.command), env=self.env)
        child.started_at = time.monotonic()
        child.next_start_at = None

    def check(self) -> int | None:
        """One round: restart what died and is due. Returns an exit status when it is time to give up."""
        now = time.monotonic()
        for child in self.children.values():
            if child.process is not None and child.process.poll() is not None:
                status = child.process.returncode
                child.process = None
                lived = now - child.started_at
                child.quick_failures = child.quick_failures + 1 if lived < self.healthy_after else 1
                if child.quick_failures >= self.max_quick_failures:
                    self.say(f"{child.name} keeps exiting (status {status}); stopping everything")
                    return status or 1
                pause = min(self.longest_pause, self.first_pause * 2 ** (child.quick_failures - 1))
                self.say(f"{child.name} exited with status {status}; starting it again in {pause:.0f}s")
                child.next_start_at = now + pause
            if child.process is None and child.next_start_at is not None and now >= child.next_start_at:
                child.restarts += 1
                self._launch(child)
        return None

    def run(self, poll_interval: float = 0.2) -> int:
        """Supervises until Ctrl-C/SIGTERM (status 0) or a child that cannot stay up (its status)."""

        def stop(_signum: int, _frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.start()
        status = 0
        try:
            while not self.stopping:
                verdict = self.check()
                if verdict is not None:
                    status = verdict
                    break
                time.sleep(poll_interval)
        finally:
            self.stop_all()
        return status

    def stop_all(self, grace: float = 20.0) -> None:
        running = [c.process for c in self.children.values() if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

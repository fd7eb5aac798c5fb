"""The Procfile's worker, run as the platform runs it (its exact command line, in a shell, on a private Redis): on
PostgreSQL with no carrier credentials it refuses to start with one line saying what is missing; with
BRIDGE_CARRIER=simulator it starts, and answers Celery's own `inspect ping` (the Procfile's --without-gossip
--without-mingle keep remote control)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config import NO_CARRIER
from tests.conftest import on_postgres
from tests.support.processes import RedisServer

ROOT = Path(__file__).resolve().parents[2]
# A worker reads the database only when it takes a task: these workers are given none, so the URL need only say
# PostgreSQL (the run's own server when the suite is on PostgreSQL).
POSTGRES_URL = os.environ["DATABASE_URL"] if on_postgres() else "postgresql://postgres@127.0.0.1:5432/bridge"


def procfile_command(process: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise AssertionError(f"no {process} in the Procfile")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def worker_environment(redis: RedisServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "BRIDGE_", "DATABASE_URL", "SENTRY"))}
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        "DATABASE_URL": POSTGRES_URL,
        "REDIS_URL": redis.url,
        "BRIDGE_INSTANCE_DIR": str(tmp_path / "instance"),
        "BRIDGE_ACCOUNT_SID": "AC" + "ab" * 16,
        "BRIDGE_AUTH_TOKEN": "worker-process-test-token",
        "CELERY_CONCURRENCY": "2",
        **extra,
    }


def test_the_procfile_worker_on_postgres_without_carrier_credentials_refuses_to_start(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    result = subprocess.run(
        ["bash", "-c", procfile_command("worker")],
        env=worker_environment(private_redis, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"bridge worker: {NO_CARRIER}" in result.stderr.splitlines()


def ping(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "celery", "--app", "workers.celery_app", "inspect", "ping", "--timeout", "2"]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_the_procfile_worker_with_the_simulator_asked_for_starts_and_answers_inspect_ping(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    env = worker_environment(private_redis, tmp_path, BRIDGE_CARRIER="simulator")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        ["bash", "-c", "exec " + procfile_command("worker")], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        answer = ping(env, tmp_path)
        while answer.returncode != 0 and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            answer = ping(env, tmp_path)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
        assert answer.returncode == 0 and "pong" in answer.stdout, answer.stdout + answer.stderr
    finally:
        worker.terminate()
        worker.wait(timeout=30)

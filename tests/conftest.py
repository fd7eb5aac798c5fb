"""Shared fixtures. The backend follows the environment, as the bridge does:

- nothing set: SQLite in a temporary folder (the embedded default);
- `DATABASE_URL` set (PostgreSQL): a scratch database is created on that server for the run and dropped after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.migrate import upgrade
from tests.support.live import LiveBridge, free_port, scratch_database, start_live_bridge

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"


def on_postgres() -> bool:
    return (os.environ.get("DATABASE_URL") or "").startswith(("postgres://", "postgresql"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if on_postgres():
        with scratch_database(os.environ["DATABASE_URL"]) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'bridge.db'}"


def bridge_environment(database_url: str, instance_dir: Path, port: int) -> dict[str, str]:
    env = {
        "BRIDGE_INSTANCE_DIR": str(instance_dir),
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BRIDGE_ACCOUNT_SID": ACCOUNT_SID,
        "BRIDGE_AUTH_TOKEN": AUTH_TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


@pytest.fixture(scope="session")
def bridge(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    from webhooks import create_app

    port = free_port()
    settings = Settings.from_env(bridge_environment(database_url, tmp_path_factory.mktemp("instance"), port))
    upgrade(settings.database_url)
    live = start_live_bridge(settings, create_app)
    yield live
    live.stop()

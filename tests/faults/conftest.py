"""Fixtures for the fault scenarios: every scenario gets its own PostgreSQL, Redis and bridge processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.db import Database
from bridge.migrate import upgrade
from tests.faults.harness import Scenario, environment
from tests.support.fake_carrier import FakeCarrier
from tests.support.postgres import PrivatePostgres
from tests.support.processes import RedisServer, Stack


@pytest.fixture
def scenario(request: pytest.FixtureRequest, fake_carrier: FakeCarrier, tmp_path: Path) -> Iterator[Scenario]:
    fake_carrier.reset()
    postgres = PrivatePostgres()
    postgres.start()
    upgrade(postgres.url)
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    stack = Stack(environment(postgres, redis_server, fake_carrier), tmp_path)
    database = Database(postgres.url)
    running = Scenario(request.node.name, postgres, redis_server, stack, fake_carrier, database)
    try:
        yield running
    finally:
        stack.stop()
        database.dispose()
        redis_server.stop()
        postgres.stop()
        fake_carrier.reset()

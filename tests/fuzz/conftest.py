"""Fuzz fixtures: the session's live bridge (real HTTP, real database), its /openapi.json loaded by
schemathesis, resources seeded before each operation, and the counts printed at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.schemas import BaseSchema

from tests.fuzz.harness import TALLY, Credentials, Fuzzer, register_auth, reset_sign_in_limit
from tests.fuzz.seeds import Seeds, seed
from tests.support.live import LiveBridge


@pytest.fixture(scope="session")
def fuzz_schema(bridge: LiveBridge) -> BaseSchema:
    schema = schemathesis.openapi.from_url(bridge.url + "/openapi.json")
    register_auth(schema, Credentials.of(bridge))
    return schema


@pytest.fixture(scope="module")
def quiet_queue(bridge: LiveBridge) -> Iterator[None]:
    """No worker runs here: the deliveries the fuzzed messages enqueue are purged from the broker afterwards, so
    no later test's worker meets thousands of stale tasks."""
    yield
    from workers.celery_app import app

    app.control.purge()


@pytest.fixture
def seeds(bridge: LiveBridge, quiet_queue: None) -> Seeds:
    reset_sign_in_limit(bridge)
    return seed(bridge, Credentials.of(bridge))


@pytest.fixture
def fuzzer(fuzz_schema: BaseSchema, bridge: LiveBridge, seeds: Seeds) -> Fuzzer:
    return Fuzzer(fuzz_schema, bridge, Credentials.of(bridge), seeds.for_path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if sum(TALLY.requests.values()):
        terminalreporter.section("fuzz")
        for line in TALLY.summary():
            terminalreporter.write_line(line)

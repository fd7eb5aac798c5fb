"""The security suite runs on the integration suite's live bridge (real HTTP, real database, a real Celery worker
and the fake carrier): its fixtures are imported here, so both suites share one bridge per run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.integration.conftest import (  # noqa: F401 - fixtures
    Api,
    api,
    client,
    live,
    sender_pool,
    worker,
)
from tests.support.live import LiveBridge
from webhooks.admin import ratelimit


@pytest.fixture(autouse=True)
def fresh_sign_in_limits(live: LiveBridge) -> Iterator[None]:  # noqa: F811 - the imported fixture
    """Failed admin sign-ins are counted in Redis, beyond the table reset: each test starts with none."""
    live.app.extensions[ratelimit.EXTENSION].reset()
    yield


@pytest.fixture
def throwaway_app(live: LiveBridge) -> Flask:  # noqa: F811 - the imported fixture
    """A second app from the same factory, on the live bridge's database, for routes a test adds (a served app's
    map is closed to new routes)."""
    from webhooks import create_app

    return create_app(live.settings, database=live.database)  # Celery's configuration is unchanged: same settings

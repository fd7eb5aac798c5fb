"""`/readyz` of the deployed web process (gunicorn) on a private PostgreSQL and Redis: 503 naming the check while
PostgreSQL is stopped, while Redis is, and while the schema is behind the code; 200 again once each is back. Every
answer comes within the request's timeout, and the admin dashboard still renders with Redis gone."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from bridge.migrate import alembic_config, upgrade
from tests.faults.harness import Scenario
from tests.support.waiting import eventually

ANSWER_WITHIN = 10  # seconds: each check has a 2 s deadline, so a dead dependency cannot hang the answer


def readiness(scenario: Scenario) -> tuple[int, dict[str, Any]]:
    response = requests.get(scenario.stack.url + "/readyz", timeout=ANSWER_WITHIN)
    return response.status_code, response.json()


def becomes(scenario: Scenario, status: int, failing: str | None = None) -> dict[str, Any]:
    def answer() -> dict[str, Any] | None:
        code, body = readiness(scenario)
        if code != status:
            return None
        if failing is not None and body["checks"][failing] == "ok":
            return None
        return body

    return eventually(answer, timeout=30, interval=0.5, message=f"/readyz never answered {status} ({failing})")


def test_readyz_follows_postgres_redis_and_the_schema(scenario: Scenario) -> None:
    scenario.stack.start_web(workers=1)
    ready = becomes(scenario, 200)
    assert ready == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok"},
        "carrier": "twilio",
    }

    scenario.postgres.stop_server()
    down = becomes(scenario, 503, failing="database")
    assert down["status"] == "unavailable" and down["checks"]["redis"] == "ok"
    assert down["checks"]["migrations"] == "not checked"
    assert "127.0.0.1" not in json.dumps(down) and "postgres" not in json.dumps(down)  # kinds of failure, no details
    scenario.postgres.start_server()
    becomes(scenario, 200)

    scenario.redis.stop()
    down = becomes(scenario, 503, failing="redis")
    assert down["checks"]["database"] == "ok"
    scenario.redis.start()
    becomes(scenario, 200)

    from alembic import command

    command.downgrade(alembic_config(scenario.postgres.url), "-1")
    behind = becomes(scenario, 503, failing="migrations")
    assert behind["checks"]["database"] == "ok" and "code expects" in behind["checks"]["migrations"]
    upgrade(scenario.postgres.url)
    becomes(scenario, 200)


def test_the_dashboard_renders_with_redis_gone(scenario: Scenario) -> None:
    scenario.stack.start_web(workers=1)
    admin = requests.Session()
    password = json.loads((scenario.stack.workdir / "admin.json").read_text())["password"]
    page = admin.get(scenario.stack.url + "/admin/sign-in", timeout=ANSWER_WITHIN).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    signed_in = admin.post(
        scenario.stack.url + "/admin/sign-in",
        data={"username": "admin", "password": password, "csrf_token": token.group(1)},
        timeout=ANSWER_WITHIN,
    )
    assert signed_in.status_code == 200 and "Dashboard" in signed_in.text
    assert "None in the last 60 s" in signed_in.text  # no worker runs in this scenario

    scenario.redis.stop()
    dashboard = admin.get(scenario.stack.url + "/admin", timeout=ANSWER_WITHIN)
    assert dashboard.status_code == 200
    assert "Unknown: the bridge's Redis does not answer." in dashboard.text

"""Health endpoints on the live bridge (no credentials), and the admin dashboard's list of live workers, read
from Celery's own heartbeats and checked against Celery's own `inspect ping`. (/readyz with PostgreSQL or Redis
stopped: tests/faults/test_readiness.py.)"""

from __future__ import annotations

import requests

from tests.integration.test_admin_api import Console, console  # noqa: F401  (fixture)
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually


def test_healthz_answers_without_credentials_and_without_the_database(live: LiveBridge) -> None:
    response = requests.get(live.url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_each_check_and_the_carrier(live: LiveBridge) -> None:
    response = requests.get(live.url + "/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok"},
        "carrier": "twilio",
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_the_dashboard_lists_the_running_worker_that_answers_celerys_ping(
    worker: FakeCarrier,
    console: Console,  # noqa: F811
    live: LiveBridge,
) -> None:
    from workers.celery_app import app

    answered = app.control.inspect(timeout=2).ping() or {}
    assert len(answered) == 1, answered  # the suite's one worker
    (hostname,) = answered

    def card_naming_the_worker() -> str | None:
        page = console.get("/admin").text
        card = page.split('id="workers"', 1)[1].split("</section>", 1)[0]
        return card if hostname in card else None

    card = eventually(card_naming_the_worker, timeout=10, interval=0.5)
    assert "s ago" in card
    assert "nothing reaches phones" not in console.get("/admin").text  # the suite's carrier is a (fake) Twilio

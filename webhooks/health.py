"""Health endpoints for load balancers and platforms, without authentication and with nothing sensitive in them.

`/healthz`: the process is up and serving (no database, no Redis: cheap enough to call every second).
`/readyz`: the database answers, Redis answers and the schema is current (Alembic's head equals the database's
revision); 200 when all hold, 503 naming the check that failed otherwise. Every check has a deadline, so a dead
dependency makes the answer a prompt 503 rather than a hung request. The body also says which carrier sends, and
when it is the simulator, that nothing reaches phones.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify

from bridge import health
from bridge.carriers import carrier_problem, sends_nowhere
from bridge.config import Settings
from bridge.db import Database

blueprint = Blueprint("health", __name__)

CHECK_DEADLINE_SECONDS = 2.0
OK = "ok"
SIMULATOR_NOTE = "simulator: sends nowhere, nothing reaches phones"
# Checks run in threads of their own so that one stuck on a dead server cannot hold up the answer.
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def carrier_note(settings: Settings) -> str:
    if sends_nowhere(settings):
        return SIMULATOR_NOTE
    return carrier_problem(settings) or str(settings.carrier)


def _database(database: Database) -> str:
    health.database_revisions(database)
    return OK


def _migrations(database: Database) -> str:
    problem = health.migrations_problem(database)
    return f"behind or ahead: {problem}" if problem else OK


def quick_redis() -> redis.Redis:
    """The app's client for the bridge's Redis that gives up in half a second (health checks, the dashboard)."""
    from workers.celery_app import redis_url
    from workers.coordination import quick_client

    client = current_app.extensions.get("bridge.quick_redis")
    if client is None:
        client = current_app.extensions["bridge.quick_redis"] = quick_client(
            redis_url(current_app.extensions["bridge.settings"])
        )
    return client


def _redis() -> str:
    quick_redis().ping()
    return OK


def _outcome(check: Callable[[], str]) -> str:
    future = _checks.submit(check)
    try:
        return future.result(timeout=CHECK_DEADLINE_SECONDS)
    except FutureTimeout:
        return f"no answer within {CHECK_DEADLINE_SECONDS:g} s"
    except Exception as error:  # the kind of failure only: messages can carry hosts and user names
        return f"failed ({type(error).__name__})"


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    database: Database = app.extensions["bridge.database"]
    checks = {
        "database": _outcome(lambda: _database(database)),
        "redis": _outcome(lambda: _in_app(app, _redis)),
    }
    checks["migrations"] = _outcome(lambda: _migrations(database)) if checks["database"] == OK else "not checked"
    ready = all(result == OK for result in checks.values())
    body = {
        "status": "ready" if ready else "unavailable",
        "checks": checks,
        "carrier": carrier_note(app.extensions["bridge.settings"]),
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ready else 503


def _in_app(app: Flask, check: Callable[[], str]) -> str:
    with app.app_context():
        return check()

"""What a worker process holds: its settings, one Database and one carrier adapter (built on first use)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bridge import carrier_numbers
from bridge.carriers import Carrier, build_carrier
from bridge.chat import wakeups
from bridge.config import Settings
from bridge.db import Database
from bridge.media_storage import MediaStore, build_store
from workers.celery_app import app
from workers.dispatch import enqueue

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class WorkerContext:
    settings: Settings
    database: Database
    carrier: Carrier
    store: MediaStore
    # The recipients of one message are sent to at the same time, on these threads (shared by all of the process's
    # tasks, so the database connections they need stay bounded).
    send_pool: ThreadPoolExecutor


_context: WorkerContext | None = None
_lock = threading.Lock()


def build_context(settings: Settings) -> WorkerContext:
    """A worker's context for `settings`: the one a worker process builds, and the one the tests' worker uses."""
    database = Database(settings.database_url, dispatcher=enqueue, announcer=wakeups.announcer(settings.redis_url))
    # A held inbound message accepted later (autocreation) adds a participant here too.
    database.proxy_rule = carrier_numbers.proxy_rule(settings.carrier)
    return WorkerContext(
        settings=settings,
        database=database,
        carrier=build_carrier(settings),
        store=build_store(settings),
        send_pool=ThreadPoolExecutor(settings.send_concurrency, thread_name_prefix="send"),
    )


def context() -> WorkerContext:
    global _context
    with _lock:
        if _context is None:
            _context = build_context(app.conf.bridge_settings)
        return _context


def use_context(replacement: WorkerContext | None) -> None:
    """Swap the process's context (tests point workers at their own database and carrier)."""
    global _context
    with _lock:
        if _context is not None and _context is not replacement:
            _context.send_pool.shutdown(wait=True)
            _context.database.dispose()
        _context = replacement


def durably(ctx: WorkerContext, work: Callable[[Session], T], what: str) -> T:
    """Records what a remote party answered, retrying while the database is unreachable (a restart, a failover).

    The answer exists only in this process's memory: if it were dropped, the row would go back to pending when
    its lease runs out and be sent twice. So the worker keeps trying for most of the lease before giving up."""
    deadline = time.monotonic() + ctx.settings.delivery_lease_seconds * 0.8
    pause = 0.2
    while True:
        try:
            with ctx.database.transaction() as session:
                return work(session)
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            log.warning("%s: database unavailable while recording the outcome; retrying", what)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

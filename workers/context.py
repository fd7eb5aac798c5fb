"""What a worker process holds: its settings, one Database and one carrier adapter (built on first use)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bridge.carriers import Carrier, build_carrier
from bridge.config import Settings
from bridge.db import Database
from bridge.media_storage import MediaStore, build_store
from workers.celery_app import app
from workers.dispatch import enqueue


@dataclass
class WorkerContext:
    settings: Settings
    database: Database
    carrier: Carrier
    store: MediaStore


_context: WorkerContext | None = None
_lock = threading.Lock()


def context() -> WorkerContext:
    global _context
    with _lock:
        if _context is None:
            settings: Settings = app.conf.bridge_settings
            _context = WorkerContext(
                settings=settings,
                database=Database(settings.database_url, dispatcher=enqueue),
                carrier=build_carrier(settings),
                store=build_store(settings),
            )
        return _context


def use_context(replacement: WorkerContext | None) -> None:
    """Swap the process's context (tests point workers at their own database and carrier)."""
    global _context
    with _lock:
        if _context is not None and _context is not replacement:
            _context.database.dispose()
        _context = replacement

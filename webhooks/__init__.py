"""The bridge's HTTP edge (Flask). `create_app` is the WSGI factory gunicorn loads."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from bridge.config import Settings
    from bridge.db import Database


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    """`webhooks.app.create_app`, imported when called. gunicorn's master imports this package for its settings
    (webhooks/gunicorn_config.py) and forks its workers from itself: it must not have imported prometheus_client
    before the metrics directory is in its environment (bridge/metrics_dir.py)."""
    from webhooks.app import create_app as build

    return build(settings, database)


__all__ = ["create_app"]

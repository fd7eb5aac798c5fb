"""The process's client for the broker's Redis, for the small things that are not tasks: the planner's queued flag
(workers/dispatch.py) and the workers' heartbeats (workers/liveness.py). It gives up in half a second, so a Redis
that is down never holds up a web request after its commit, a heartbeat or a page."""

from __future__ import annotations

import threading

import redis

TIMEOUT_SECONDS = 0.5

_client: redis.Redis | None = None
_client_lock = threading.Lock()


def quick_client(url: str) -> redis.Redis:
    """A Redis client that gives up in half a second."""
    return redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS, retry_on_timeout=False
    )


def shared() -> redis.Redis:
    """This process's client for the Redis its Celery app uses, made on first use."""
    global _client
    with _client_lock:
        if _client is None:
            from workers.celery_app import app, redis_url

            _client = quick_client(redis_url(app.conf.bridge_settings))
        return _client

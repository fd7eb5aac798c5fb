"""Which workers are alive: each worker records Celery's own heartbeat (every 2 s; `--without-gossip` and
`--without-mingle` keep it) in one sorted set on the bridge's Redis, and the admin dashboard reads the workers seen
in the last minute with one short round trip. Nothing here waits for a worker to answer, so the dashboard stays
fast when the workers, or Redis, are down. (`celery inspect ping` asks the workers themselves; it works too.)"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import redis
from celery.signals import heartbeat_sent

from workers import coordination

log = logging.getLogger(__name__)

SEEN_KEY = "bridge:workers-seen"  # sorted set: worker hostname -> unix time of its last heartbeat
SEEN_WINDOW_SECONDS = 60.0
FORGET_AFTER_SECONDS = 24 * 3600.0  # long-gone workers are dropped from the set


@dataclass(frozen=True)
class SeenWorker:
    hostname: str
    seconds_ago: float


def record(client: redis.Redis, hostname: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    pipe = client.pipeline(transaction=False)
    pipe.zadd(SEEN_KEY, {hostname: now})
    pipe.zremrangebyscore(SEEN_KEY, "-inf", now - FORGET_AFTER_SECONDS)
    pipe.execute()


def seen(client: redis.Redis, within: float = SEEN_WINDOW_SECONDS) -> list[SeenWorker]:
    """Workers whose last heartbeat is at most `within` seconds old, most recent first. Raises redis.RedisError."""
    now = time.time()
    rows = client.zrevrangebyscore(SEEN_KEY, "+inf", now - within, withscores=True)
    return [SeenWorker(name.decode() if isinstance(name, bytes) else name, max(0.0, now - at)) for name, at in rows]


@heartbeat_sent.connect(dispatch_uid="bridge.liveness")
def _on_heartbeat(sender: Any, **_kwargs: Any) -> None:
    try:
        record(coordination.shared(), sender.eventer.hostname)
    except redis.RedisError as error:  # Redis is down: the broker's own reconnection deals with it
        log.debug("could not record the heartbeat: %s", type(error).__name__)

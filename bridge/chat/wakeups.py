"""The chat gateways' wake-up: after a transaction commits, the event streams it wrote to are published on one
Redis channel. It only wakes; what a client is sent is read from the change-event log, and a gateway also polls
the streams its clients follow, so a lost wake-up delays an event by one poll and never loses it."""

from __future__ import annotations

from collections.abc import Callable

import redis

STREAMS_CHANNEL = "bridge:chat:streams"
TYPING_CHANNEL = "bridge:chat:typing"


def announcer(redis_url: str | None) -> Callable[[set[str]], None] | None:
    if not redis_url:
        return None
    # Short timeouts: a commit's caller waits for this; a slow Redis costs one poll interval, not a request.
    client = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def announce(streams: set[str]) -> None:
        client.publish(STREAMS_CHANNEL, " ".join(sorted(streams)))

    return announce

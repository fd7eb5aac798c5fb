"""The chat gateways' wake-up: after a transaction commits, the event streams it wrote to are published on one
Redis channel. It only wakes; what a client is sent is read from the change-event log, and a gateway also polls
the streams its clients follow, so a lost wake-up delays an event by one poll and never loses it.

A commit never waits for Redis: the streams go to a queue that one thread per process drains, merging what
piled up into one message; with Redis away the thread backs off and what it could not say is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

STREAMS_CHANNEL = "bridge:chat:streams"
TYPING_CHANNEL = "bridge:chat:typing"
QUEUE_LIMIT = 10_000  # announcements waiting; beyond this a commit's is dropped (the gateways' poll finds it)


class Announcer:
    def __init__(self, redis_url: str) -> None:
        self.client = redis.Redis.from_url(
            redis_url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        self.pending: queue.Queue[set[str]] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, streams: set[str]) -> None:
        self._ensure_thread()
        with contextlib.suppress(queue.Full):
            self.pending.put_nowait(streams)

    def _ensure_thread(self) -> None:
        # Started on first use, not at import: a forked worker process gets a thread of its own.
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._drain, name="chat-announcer", daemon=True)
                self._thread.start()

    def _drain(self) -> None:
        while True:
            streams = set(self.pending.get())
            while True:  # everything that piled up goes in one message
                try:
                    streams |= self.pending.get_nowait()
                except queue.Empty:
                    break
            try:
                self.client.publish(STREAMS_CHANNEL, " ".join(sorted(streams)))
            except redis.RedisError as error:
                log.debug("could not announce %d streams (%s); the gateways will poll", len(streams), error)
                time.sleep(1)


def announcer(redis_url: str | None) -> Callable[[set[str]], None] | None:
    return Announcer(redis_url) if redis_url else None

"""Who follows which stream in this process, and bringing each follower up to date.

One catch-up per stream at a time: it reads the stream's change events after the lowest position among the
stream's followers (`bridge.chat.feed`), and sends each follower the events of the objects it follows above its
own position. Replay on (re)subscribe and live delivery are the same catch-up, so they cannot disagree.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from bridge.chat import feed
from bridge.chat.access import Caller
from bridge.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")


class Follower(Protocol):
    positions: dict[str, int]  # object SID -> the last event id sent for it

    def objects_of(self, stream: str) -> list[str]: ...

    def send_event(self, event: feed.SyncEvent) -> None: ...

    def loses_access(self, event: feed.SyncEvent) -> bool:
        """Whether the event may end this follower's right to the stream (it is then checked again)."""
        ...

    def suspended(self, stream: str) -> bool: ...

    def recheck(self, stream: str) -> None:
        """Suspends the stream until the follower's access to it has been checked again."""
        ...


class Hub:
    def __init__(
        self,
        database: Database,
        base: Caller,
        run: Callable[..., Awaitable[T]],
        online_of: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self.database = database
        self.online_of = online_of
        self.base = base  # only its base_url is used: event URLs do not depend on who reads them
        self._run = run  # runs a blocking function on the thread pool
        self.followers: dict[str, set[Follower]] = defaultdict(set)
        self._locks: dict[str, asyncio.Lock] = {}
        self._again: set[str] = set()

    def follow(self, stream: str, follower: Follower) -> None:
        self.followers[stream].add(follower)

    def unfollow(self, stream: str, follower: Follower) -> None:
        followers = self.followers.get(stream)
        if followers is not None:
            followers.discard(follower)
            if not followers:
                del self.followers[stream]
                self._locks.pop(stream, None)

    def streams(self) -> list[str]:
        return list(self.followers)

    def lowest_position(self, stream: str) -> int | None:
        positions = [
            follower.positions[sid]
            for follower in self.followers.get(stream, ())
            if not follower.suspended(stream)
            for sid in follower.objects_of(stream)
            if sid in follower.positions
        ]
        return min(positions) if positions else None

    async def catch_up(self, stream: str) -> None:
        """Sends every follower of `stream` what it has not had. A call while one runs makes that one go again."""
        lock = self._locks.setdefault(stream, asyncio.Lock())
        if lock.locked():
            self._again.add(stream)
            return
        async with lock:
            while True:
                self._again.discard(stream)
                await self._catch_up_once(stream)
                if stream not in self._again:
                    return

    async def _catch_up_once(self, stream: str) -> None:
        while True:
            after = self.lowest_position(stream)
            if after is None:
                return
            batch = await self._run(self._read, stream, after)
            for follower in list(self.followers.get(stream, ())):
                if follower.suspended(stream):
                    continue
                # The objects this read covers: those followed from `after` on. One followed while it ran, from
                # further back, is left for the next round. Positions are taken before sending, as events of a
                # refresh after a gap share one id.
                covered = {
                    sid: follower.positions[sid]
                    for sid in follower.objects_of(stream)
                    if sid in follower.positions and follower.positions[sid] >= after
                }
                reached = batch.upto
                for event in batch.events:
                    if event.object_sid in covered and event.id > covered[event.object_sid]:
                        follower.send_event(event)
                    if follower.loses_access(event):
                        # Nothing after this event until the follower's access is checked again.
                        reached = event.id
                        follower.recheck(stream)
                        break
                for sid, position in covered.items():
                    if sid in follower.positions:
                        follower.positions[sid] = max(position, reached)
            lowest = self.lowest_position(stream)
            if not batch.more and (lowest is None or lowest >= batch.upto):
                return

    def _read(self, stream: str, after: int) -> feed.Batch:
        online = stream.startswith("US") and self.online_of(stream)
        with self.database.transaction() as session:
            return feed.read(session, self.base, stream, after, online)

    async def poll(self) -> None:
        """Catches up every stream whose newest event is past a follower's position (the wake-up's safety net)."""
        streams = self.streams()
        if not streams:
            return
        newest = await self._run(self._newest, streams)
        for stream, seq in newest.items():
            lowest = self.lowest_position(stream)
            if lowest is not None and seq > lowest:
                await self.catch_up(stream)

    def _newest(self, streams: list[str]) -> dict[str, int]:
        with self.database.transaction() as session:
            return feed.current_seq(session, streams)

    def woken(self, streams: list[str]) -> list[str]:
        return [stream for stream in streams if stream in self.followers]

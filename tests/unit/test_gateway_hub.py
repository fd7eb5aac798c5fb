"""The hub's catch-up: each follower is sent each event above its own position exactly once, including one that
starts following, from further back, while a read is under way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bridge.chat.feed import Batch, SyncEvent
from gateway.hub import Hub

STREAM, LIST = "CH" + "1" * 32, "ES" + "1" * 32
LOG = {seq: SyncEvent(LIST, seq, {"event_type": "list_item_added"}) for seq in range(1, 11)}


@dataclass(eq=False)
class Follower:
    positions: dict[str, int] = field(default_factory=dict)
    sent: list[int] = field(default_factory=list)

    def objects_of(self, stream: str) -> list[str]:
        return list(self.positions) if stream == STREAM else []

    def send_event(self, event: SyncEvent) -> None:
        self.sent.append(event.id)

    def loses_access(self, event: SyncEvent) -> bool:
        return False

    def suspended(self, stream: str) -> bool:
        return False

    def recheck(self, stream: str) -> None:
        raise AssertionError("no event here ends anyone's access")


def test_a_follower_that_joins_during_a_read_from_further_back_gets_what_it_missed() -> None:
    early, late = Follower({LIST: 6}), Follower()
    reads: list[int] = []

    async def run(_: Any, stream: str, after: int) -> Batch:
        reads.append(after)
        if len(reads) == 1:  # while the first read runs, `late` subscribes, having seen up to 3
            late.positions[LIST] = 3
            hub.follow(STREAM, late)
        newest = 8
        return Batch([LOG[seq] for seq in range(after + 1, newest + 1)], newest, False)

    hub = Hub(None, None, run)  # type: ignore[arg-type]
    hub.follow(STREAM, early)
    asyncio.run(hub.catch_up(STREAM))
    assert early.sent == [7, 8]
    assert late.sent == [4, 5, 6, 7, 8]
    assert reads == [6, 3]
    assert early.positions[LIST] == late.positions[LIST] == 8


def test_events_that_share_an_id_all_go_out() -> None:
    follower = Follower({LIST: 2})
    refresh = [SyncEvent(LIST, 5, {"event_type": "list_item_added", "index": n}) for n in range(3)]

    async def run(_: Any, stream: str, after: int) -> Batch:
        return Batch(refresh if after < 5 else [], 5, False)

    hub = Hub(None, None, run)  # type: ignore[arg-type]
    hub.follow(STREAM, follower)
    asyncio.run(hub.catch_up(STREAM))
    assert follower.sent == [5, 5, 5]

"""Concurrent writers into one conversation get strictly increasing indexes with no gap and no duplicate."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bridge.client import bridge_client
from tests.support.live import LiveBridge

WRITERS = 8
MESSAGES_PER_WRITER = 200


def test_eight_writers_produce_indexes_without_gaps_or_duplicates(live: LiveBridge) -> None:
    setup = bridge_client(live.url, live.account_sid, live.auth_token)
    conversation = setup.conversations.v1.conversations.create(friendly_name="busy")

    def write(writer: int) -> list[int]:
        client = bridge_client(live.url, live.account_sid, live.auth_token)
        messages = client.conversations.v1.conversations(conversation.sid).messages
        return [
            messages.create(author=f"writer-{writer}", body=f"{writer}:{n}").index for n in range(MESSAGES_PER_WRITER)
        ]

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        per_writer = list(pool.map(write, range(WRITERS)))

    indexes = sorted(index for writer in per_writer for index in writer)
    assert indexes == list(range(WRITERS * MESSAGES_PER_WRITER))
    for writer in per_writer:
        assert writer == sorted(writer), "one writer's messages must get increasing indexes"
    stored = [m.index for m in setup.conversations.v1.conversations(conversation.sid).messages.stream(page_size=100)]
    assert stored == list(range(WRITERS * MESSAGES_PER_WRITER))

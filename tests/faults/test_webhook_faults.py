"""Post-event webhooks through the deployed bridge while their receiver goes down and the webhook worker is
SIGKILLed: every onMessageAdded arrives, in index order per conversation. A call can only go twice when its worker
died between the receiver's answer and its record; each carries I-Twilio-Idempotency-Token, and the repeats are
counted in the report."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

from bridge.client import bridge_client
from tests.faults.harness import ACCOUNT_SID, AUTH_TOKEN, MESSAGES, Scenario
from tests.faults.test_fault_scenarios import SETTLE_SECONDS, finish
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Answer, WebhookReceiver
from workers.queues import HOOKS_QUEUE

# The receiver's outage: 30 s at full size (scripts/faults), a few seconds in the regular run.
DOWN_SECONDS = 30.0 if MESSAGES >= 1000 else 4.0


def first_arrivals(receiver: WebhookReceiver) -> dict[str, list[int]]:
    """Per conversation, the message indexes in the order their webhooks first arrived."""
    seen: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for request in receiver.requests("onMessageAdded"):
        if request.fields["MessageSid"] not in seen:
            seen.add(request.fields["MessageSid"])
            order[request.fields["ConversationSid"]].append(int(request.fields["Index"]))
    return order


def arrived(receiver: WebhookReceiver) -> int:
    return len({r.fields["MessageSid"] for r in receiver.requests("onMessageAdded")})


def test_webhooks_survive_a_dead_receiver_and_killed_workers(scenario: Scenario) -> None:
    receiver = WebhookReceiver(AUTH_TOKEN)
    receiver.answer = lambda _request: Answer(200, delay=0.005)
    try:
        scenario.stack.start_web()
        scenario.stack.start_worker("worker0")
        scenario.stack.start_worker("hooks", concurrency=8, queue=HOOKS_QUEUE)
        scenario.stack.start_beat()
        scenario.setup_rooms()
        client = bridge_client(scenario.stack.url, ACCOUNT_SID, AUTH_TOKEN)
        client.conversations.v1.configuration.webhooks().update(
            post_webhook_url=receiver.url(), filters=["onMessageAdded"], method="POST", target="webhook"
        )
        poster = threading.Thread(target=scenario.post, args=(MESSAGES,), kwargs={"concurrency": 4})
        poster.start()

        eventually(lambda: arrived(receiver) >= MESSAGES // 4, timeout=SETTLE_SECONDS)
        receiver.stop()
        went_down = time.monotonic()
        sends_when_down = len(scenario.carrier.snapshot())
        scenario.stack.kill("hooks")  # first kill, while calls are failing and being retried
        scenario.stack.start_worker("hooks", concurrency=8, queue=HOOKS_QUEUE)
        time.sleep(max(DOWN_SECONDS - (time.monotonic() - went_down), 0))
        sends_while_down = len(scenario.carrier.snapshot()) - sends_when_down
        receiver.start()
        eventually(lambda: arrived(receiver) >= MESSAGES // 2, timeout=SETTLE_SECONDS)
        scenario.stack.kill("hooks")  # second kill, while the backlog drains
        scenario.stack.start_worker("hooks", concurrency=8, queue=HOOKS_QUEUE)

        poster.join(timeout=SETTLE_SECONDS)
        eventually(lambda: arrived(receiver) >= MESSAGES, timeout=SETTLE_SECONDS, interval=0.5)
        time.sleep(1)  # a late repeat would show now

        requests = receiver.requests("onMessageAdded")
        tokens = Counter(r.headers.get("I-Twilio-Idempotency-Token") for r in requests)
        repeats = sum(n - 1 for n in tokens.values() if n > 1)
        tokens_of: dict[str, set[str | None]] = defaultdict(set)
        for request in requests:
            tokens_of[request.fields["MessageSid"]].add(request.headers.get("I-Twilio-Idempotency-Token"))
        order = first_arrivals(receiver)
        scenario.notes.update(
            webhooks_received=len(requests),
            webhooks_distinct=arrived(receiver),
            webhook_repeats=repeats,
            receiver_down_seconds=DOWN_SECONDS,
            carrier_sends_while_receiver_down=sends_while_down,
            hooks_worker_sigkills=2,
        )
        print(f"\n[webhooks] {scenario.notes}")
        assert arrived(receiver) == MESSAGES
        assert all(r.signature_valid for r in requests)
        assert len(tokens) == MESSAGES  # one token per event: a repeat reuses its event's token
        assert all(len(seen) == 1 for seen in tokens_of.values())  # no event under two tokens
        for conversation, indexes in order.items():
            assert indexes == sorted(indexes), f"{conversation}: webhooks out of index order: {indexes}"
        assert sends_while_down > 0  # deliveries went on while the webhooks waited
        finish(scenario)  # and none was lost or sent twice
    finally:
        receiver.stop()

"""Integration fixtures: a live bridge reset before each test, clients for it, and the spec check after."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from twilio.rest import Client

from bridge.client import bridge_client
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Answer, WebhookReceiver


@pytest.fixture(autouse=True)
def live(bridge: LiveBridge) -> Iterator[LiveBridge]:
    """Every integration test starts from a first-start database and ends with spec-conformant responses."""
    bridge.reset()
    bridge.checker.take()
    yield bridge
    problems = bridge.checker.take()
    assert not problems, "responses that break Twilio's spec:\n" + "\n".join(problems)


@pytest.fixture
def client(live: LiveBridge) -> Client:
    """The official twilio package, unmodified, pointed at the bridge."""
    return bridge_client(live.url, live.account_sid, live.auth_token)


class Api:
    """Raw HTTP against the bridge, for status codes and error bodies (twilio's list calls hide them)."""

    def __init__(self, live: LiveBridge) -> None:
        self.base = live.url
        self.http = requests.Session()
        self.http.auth = (live.account_sid, live.auth_token)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, data=data, timeout=30, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.delete(self.base + path, timeout=30, **kwargs)


@pytest.fixture
def api(live: LiveBridge) -> Api:
    return Api(live)


@pytest.fixture
def sender_pool(client: Client) -> dict[str, str]:
    """Adds SMS and WhatsApp senders to the default Messaging Service and returns them."""
    configuration = client.conversations.v1.configuration().fetch()
    pool = client.messaging.v1.services(configuration.default_messaging_service_sid)
    numbers = {"sms": "+12015550100", "sms2": "+12015550101", "whatsapp": "whatsapp:+12015550102"}
    for address in numbers.values():
        pool.phone_numbers.create(phone_number_sid=address)
    return numbers


@pytest.fixture
def worker(celery_worker_thread: None, live: LiveBridge, fake_carrier: FakeCarrier) -> Iterator[FakeCarrier]:
    """Deliveries flow: a running worker and a clean fake carrier. Waits for in-flight work at the end, so no
    send of this test lands in the next one."""
    fake_carrier.reset()
    yield fake_carrier
    settle(live)
    fake_carrier.reset()


def settle(live: LiveBridge, timeout: float = 30.0) -> None:
    from sqlalchemy import func, select

    from bridge.delivery import UNFINISHED
    from bridge.hooks import outbox
    from bridge.models import Delivery, WebhookCall

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with live.database.transaction() as session:
            open_rows = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status.in_(UNFINISHED))
            )
            # Webhook calls in flight only: one waiting for a retry is simply gone after the next test's reset,
            # and a dead receiver's retries would hold every test that ends with one for the whole timeout.
            open_calls = session.scalar(
                select(func.count()).select_from(WebhookCall).where(WebhookCall.status == outbox.SENDING)
            )
        if not open_rows and not open_calls:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # let status callbacks already on the wire land


@pytest.fixture
def sweeper(worker: FakeCarrier) -> Iterator[None]:
    """Runs the sweep as beat would, every half second, in a background thread."""
    from workers.tasks import sweep

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            try:
                sweep()
            except Exception:  # Redis may be down on purpose; the next tick tries again
                continue

    thread = threading.Thread(target=loop, name="test-sweeper", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


@contextmanager
def worker_settings(**changes: Any) -> Iterator[None]:
    """The running worker's settings with `changes`, for the block."""
    from workers.context import context

    ctx = context()
    original = ctx.settings
    ctx.settings = dataclasses.replace(original, **changes)
    try:
        yield
    finally:
        ctx.settings = original


@pytest.fixture
def few_attempts(worker: FakeCarrier) -> Iterator[None]:
    """The worker gives up after two attempts, so 'the carrier was down past the retry limit' takes a second."""
    with worker_settings(delivery_max_attempts=2):
        yield


@pytest.fixture
def few_webhook_attempts(worker: FakeCarrier) -> Iterator[None]:
    """Webhook calls planned now get two attempts: 'the receiver failed past the retry limit' takes a second."""
    with worker_settings(webhook_max_attempts=2):
        yield


@pytest.fixture
def receiver(live: LiveBridge, worker: FakeCarrier) -> Iterator[WebhookReceiver]:
    """The application's webhook receiver on loopback, checking signatures with the bridge's auth token. Stopped
    only once no call of the test is still on its way, so none lands in the next test."""
    found = WebhookReceiver(live.auth_token)
    yield found
    settle(live)
    found.stop()


CUSTOMER = "+14155550181"  # the SMS customer whose inbound messages fire the webhooks


def post_webhooks_to(live: LiveBridge, receiver: WebhookReceiver, *event_types: str) -> None:
    """The account's post-event webhook, set through the REST API as an application sets it."""
    bridge_client(live.url, live.account_sid, live.auth_token).conversations.v1.configuration.webhooks().update(
        post_webhook_url=receiver.url(), method="POST", filters=list(event_types or ("onMessageAdded",))
    )


def call_statuses(live: LiveBridge) -> Counter[str]:
    """How many webhook calls are in each status."""
    from sqlalchemy import func, select

    from bridge.models import WebhookCall

    with live.database.transaction() as session:
        return Counter(
            dict(session.execute(select(WebhookCall.status, func.count()).group_by(WebhookCall.status)).all())
        )


def customer_conversation(client: Client, sender: str) -> str:
    """A conversation with CUSTOMER on SMS (made through REST without X-Twilio-Webhook-Enabled: no webhooks)."""
    conversation = client.conversations.v1.conversations.create(friendly_name="Support")
    conversation.participants.create(messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender)
    return str(conversation.sid)


def text_in(live: LiveBridge, worker: FakeCarrier, sender: str, body: str) -> None:
    """CUSTOMER texts `body`: an SMS action, so it fires onMessageAdded."""
    assert worker.post_inbound(live.url, worker.inbound_params(CUSTOMER, sender, body)).status_code == 200


def fail_webhook_calls(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    receiver: WebhookReceiver,
    bodies: tuple[str, ...] = ("where is my order?",),
) -> str:
    """The receiver answers 500 to everything: each inbound message's onMessageAdded call fails after its
    attempts. Returns the conversation's SID."""
    post_webhooks_to(live, receiver)
    conversation = customer_conversation(client, sender_pool["sms"])
    receiver.answer = lambda _: Answer(500)
    for body in bodies:
        text_in(live, worker, sender_pool["sms"], body)
    eventually(lambda: call_statuses(live) == Counter({"failed": len(bodies)}), timeout=60)
    return conversation


def delivery_statuses(live: LiveBridge) -> Counter[str]:
    """How many deliveries are in each status."""
    from sqlalchemy import func, select

    from bridge.models import Delivery

    with live.database.transaction() as session:
        return Counter(dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()))


def open_whatsapp_window(live: LiveBridge, participant_sid: str, hours_ago: float = 1.0) -> None:
    """As if the participant had written `hours_ago` hours ago: their WhatsApp customer-service window is open
    (under 24 hours) or closed (over). An inbound message would do the same, plus sends a test must discount."""
    from datetime import timedelta

    from sqlalchemy import update

    from bridge.models import Participant
    from bridge.timeutil import utcnow

    with live.database.transaction() as session:
        session.execute(
            update(Participant)
            .where(Participant.sid == participant_sid)
            .values(last_inbound_at=utcnow() - timedelta(hours=hours_ago))
        )


FailCalls = Callable[..., str]


@pytest.fixture
def failed_calls(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    receiver: WebhookReceiver,
    few_webhook_attempts: None,
) -> FailCalls:
    """`failed_calls("one", "two")`: CUSTOMER texts each body while the receiver answers 500, so each call fails
    past its two attempts. Returns the conversation's SID."""

    def fail(*bodies: str) -> str:
        return fail_webhook_calls(live, client, sender_pool, worker, receiver, bodies or ("where is my order?",))

    return fail


def held_for_pre_event(
    live: LiveBridge,
    client: Client,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    receiver: WebhookReceiver,
    body: str,
    answer: Answer,
) -> None:
    """The account's pre-event webhook (onMessageAdd) answers `answer`; CUSTOMER texts `body`, which is held until
    a worker has asked it."""
    client.conversations.v1.configuration.webhooks().update(
        pre_webhook_url=receiver.url("/pre"), filters=["onMessageAdd"]
    )
    customer_conversation(client, sender_pool["sms"])
    receiver.answer = lambda _: answer
    text_in(live, worker, sender_pool["sms"], body)

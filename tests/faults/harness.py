"""One fault scenario: the bridge as deployed (gunicorn web, Celery workers and beat) on a private PostgreSQL
and a private Redis, a fake carrier on loopback, inbound webhooks posted the way Twilio posts them (retrying
what did not get a 2xx), and the counts at the carrier at the end: expected, sent, lost, duplicated."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from bridge.client import bridge_client
from bridge.db import Database
from bridge.delivery import UNFINISHED
from bridge.models import Delivery, DeliveryAttempt, Message, Participant
from tests.support.fake_carrier import FakeCarrier
from tests.support.postgres import PrivatePostgres
from tests.support.processes import RedisServer, Stack

ACCOUNT_SID = "AC" + "fe" * 16
AUTH_TOKEN = "fault-suite-auth-token-00000000"
PROXY = "+12015550190"
# How many inbound messages each scenario pushes: small in the regular test run, thousands in scripts/faults.
MESSAGES = int(os.environ.get("BRIDGE_FAULT_MESSAGES", "120"))
REPORT = os.environ.get("BRIDGE_FAULT_REPORT")  # a JSON-lines file collecting each scenario's counts


@dataclass
class Posting:
    accepted: int = 0
    attempts: int = 0
    refused: Counter[int] = field(default_factory=Counter)  # status -> count (0: no answer), before a retry


@dataclass
class Scenario:
    name: str
    postgres: PrivatePostgres
    redis: RedisServer
    stack: Stack
    carrier: FakeCarrier
    database: Database
    rooms: list[tuple[str, ...]] = field(default_factory=list)
    posting: Posting = field(default_factory=Posting)
    notes: dict[str, Any] = field(default_factory=dict)

    def setup_rooms(self, count: int = 10) -> None:
        """`count` three-party conversations of SMS participants, made through the bridge's own API."""
        client = bridge_client(self.stack.url, ACCOUNT_SID, AUTH_TOKEN)
        pool = client.conversations.v1.configuration().fetch().default_messaging_service_sid
        client.messaging.v1.services(pool).phone_numbers.create(phone_number_sid=PROXY)
        for room in range(count):
            conversation = client.conversations.v1.conversations.create(friendly_name=f"room {room}")
            people = tuple(f"+1415556{room:02d}{k}0" for k in range(3))
            for address in people:
                conversation.participants.create(
                    messaging_binding_address=address, messaging_binding_proxy_address=PROXY
                )
            self.rooms.append(people)

    def post(self, count: int, duplicate_ratio: float = 0.0, concurrency: int = 8) -> None:
        """Posts `count` signed inbound webhooks; like Twilio, anything but a 2xx is tried again (after a pause).
        With `duplicate_ratio`, that share of them is posted twice, as a carrier's retry would."""
        rng = random.Random(7)
        plan = [(n, rng.random() < duplicate_ratio) for n in range(count)]
        local = threading.local()

        def send(item: tuple[int, bool]) -> None:
            n, twice = item
            room = self.rooms[n % len(self.rooms)]
            params = self.carrier.inbound_params(room[n % 3], PROXY, f"msg-{n}")
            if not hasattr(local, "http"):
                local.http = requests.Session()
            for _copy in range(2 if twice else 1):
                self._post_until_accepted(local.http, params)

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(send, plan))
        self.notes["duplicated_webhooks"] = sum(1 for _, twice in plan if twice)

    def _post_until_accepted(self, http: requests.Session, params: dict[str, str]) -> None:
        url = f"{self.stack.url}/webhooks/twilio/inbound"
        signature = self.carrier.validator.compute_signature(url, params)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.posting.attempts += 1
            try:
                status = http.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=15).status_code
            except requests.RequestException:
                status = 0
            if 200 <= status < 300:
                self.posting.accepted += 1
                return
            self.posting.refused[status] += 1
            time.sleep(0.5)
        raise AssertionError(f"webhook {params['MessageSid']} was never accepted")

    def settled(self, expected_sends: int) -> bool:
        with self.database.transaction() as session:
            open_rows = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status.in_(UNFINISHED))
            )
        return not open_rows and len({(s.to_address, s.body) for s in self.carrier.snapshot()}) >= expected_sends

    def report(self, messages: int) -> dict[str, Any]:
        """The counts at the carrier, printed and appended to the report file."""
        expected = {(address, f"msg-{n}") for n in range(messages) for address in self._recipients(n)}
        sent = Counter((s.to_address, s.body) for s in self.carrier.snapshot())
        with self.database.transaction() as session:
            stored = session.scalar(select(func.count()).select_from(Message)) or 0
            failed = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "failed")) or 0
        result = {
            "scenario": self.name,
            "messages": messages,
            "accepted_webhooks": self.posting.accepted,
            "stored_messages": stored,
            "expected_sends": len(expected),
            "sends_at_carrier": sum(sent.values()),
            "delivered": len(expected & set(sent)),
            "lost": len(expected - set(sent)),
            "duplicates": sum(n - 1 for n in sent.values() if n > 1),
            "unexpected": len(set(sent) - expected),
            "failed_rows": failed,
            "webhook_retries": dict(self.posting.refused),
            "carrier_lookups": self.carrier.lookups,  # sends in doubt, looked up before any resend
            **self.notes,
        }
        duplicated = [key for key, n in sent.items() if n > 1]
        if duplicated:
            result["duplicate_histories"] = self._histories(duplicated[:10])
        print(f"\n[{self.name}] " + ", ".join(f"{key}={value}" for key, value in result.items() if key != "scenario"))
        if REPORT:
            with Path(REPORT).open("a") as handle:
                handle.write(json.dumps(result) + "\n")
        return result

    def _histories(self, sends: list[tuple[str, str | None]]) -> list[str]:
        """Why a send went twice: each duplicated delivery's attempts (attempt, HTTP status, error code, whether a
        sweep released it) as the attempt log has them."""
        histories = []
        with self.database.transaction() as session:
            for address, body in sends:
                row = session.execute(
                    select(Delivery)
                    .join(Message, Message.id == Delivery.message_id)
                    .join(Participant, Participant.id == Delivery.participant_id)
                    .where(Message.body == body, Participant.address == address)
                ).scalar_one_or_none()
                if row is None:
                    continue
                attempts = session.scalars(
                    select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == row.id).order_by(DeliveryAttempt.id)
                ).all()
                steps = [f"#{a.attempt}:{a.http_status}/{a.error_code}" for a in attempts]
                swept = row.swept_at is not None
                histories.append(f"{row.sid} attempts={row.attempts} swept={swept} {' '.join(steps)}")
        return histories

    def _recipients(self, n: int) -> tuple[str, ...]:
        room = self.rooms[n % len(self.rooms)]
        return tuple(address for address in room if address != room[n % 3])


def environment(postgres: PrivatePostgres, redis_server: RedisServer, carrier: FakeCarrier) -> dict[str, str]:
    return {
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis_server.url,
        "BRIDGE_ACCOUNT_SID": ACCOUNT_SID,
        "BRIDGE_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": carrier.account_sid,
        "TWILIO_AUTH_TOKEN": carrier.auth_token,
        "TWILIO_API_BASE_URL": carrier.url,
        "BRIDGE_DELIVERY_LEASE_SECONDS": "20",  # generous: a starved worker (shared CPUs) must not lose its claim
        "BRIDGE_SWEEP_INTERVAL_SECONDS": "1",
        "BRIDGE_SWEEP_GRACE_SECONDS": "3",
        "BRIDGE_RETRY_BASE_SECONDS": "0.5",
        "BRIDGE_RETRY_MAX_SECONDS": "5",
        "BRIDGE_DELIVERY_MAX_ATTEMPTS": "20",
        "BRIDGE_WEBHOOK_MAX_ATTEMPTS": "30",  # a receiver down for 30 s outlasts fewer attempts at a 5 s backoff cap
        "BRIDGE_CARRIER_TIMEOUT": "2",
        "LOG_LEVEL": "INFO",
    }

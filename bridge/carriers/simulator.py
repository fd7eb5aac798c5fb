"""A carrier that sends nothing: it records each send and answers like Twilio, status callbacks included.

It is what the embedded default uses when no carrier account is configured (`TWILIO_ACCOUNT_SID` unset), so a
message can travel end to end on a laptop. Sends are appended to `simulator-outbox.jsonl` in the instance
folder, and each one is followed by signed `sent` and `delivered` status callbacks, as Twilio posts them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator

from bridge.carriers.base import CarrierRecord, Inventory, OutboundMessage, SendResult, accepted_earlier
from bridge.timeutil import iso, parse_datetime, utcnow

log = logging.getLogger(__name__)
OUTBOX_FILE = "simulator-outbox.jsonl"


class SimulatorCarrier:
    name = "simulator"

    def __init__(self, account_sid: str, auth_token: str, instance_dir: Path, callback_delay: float = 0.2) -> None:
        self.account_sid = account_sid
        self.validator = RequestValidator(auth_token)
        self.outbox = instance_dir / OUTBOX_FILE
        self.callback_delay = callback_delay
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> SendResult:
        sid = ("MM" if message.media_urls else "SM") + uuid.uuid4().hex
        record = {
            "sid": sid,
            "date": iso(utcnow()),
            "from": message.from_address,
            "to": message.to_address,
            "body": message.body,
            "media_urls": message.media_urls,
            "content_sid": message.content_sid,
        }
        with self._lock:
            self.outbox.parent.mkdir(parents=True, exist_ok=True)
            with self.outbox.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        log.info("simulator accepted %s for delivery %s", sid, message.reference)
        if message.status_callback:
            threading.Thread(
                target=self._post_callbacks, args=(message, sid), name="simulator-callbacks", daemon=True
            ).start()
        return SendResult(sid, "queued")

    def find_accepted(self, message: OutboundMessage, since: datetime, known: frozenset[str]) -> str | None:
        """Reads the outbox, as Twilio's Message list would be read."""
        with self._lock:
            lines = self.outbox.read_text(encoding="utf-8").splitlines() if self.outbox.exists() else []
        records = []
        for line in lines:
            sent = json.loads(line)
            created = parse_datetime(sent["date"])
            records.append(CarrierRecord(sent["sid"], sent["to"], sent["from"], sent["body"], created))
        return accepted_earlier(records, message, since, known)

    def inventory(self) -> Inventory:
        """The simulator has no account to list: every well-formed number is one of its own, and joins a pool
        when a participant first names it (bridge/carrier_numbers.py)."""
        return Inventory()

    def _post_callbacks(self, message: OutboundMessage, sid: str) -> None:
        for status in ("sent", "delivered"):
            time.sleep(self.callback_delay)
            params = {
                "AccountSid": self.account_sid,
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "From": message.from_address,
                "To": message.to_address,
                "ApiVersion": "2010-04-01",
            }
            url = message.status_callback or ""
            signature = self.validator.compute_signature(url, params)
            try:
                requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
            except requests.RequestException as exc:
                log.warning("simulator could not post the %s callback for %s: %s", status, sid, exc)

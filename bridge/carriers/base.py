"""What every carrier adapter speaks: one outbound message in, a carrier message SID or a CarrierError out; and
what the carrier's account holds (its numbers and messaging services), read by the sync (bridge/carrier_numbers.py).

A new carrier is one outbound module here plus one webhook module in `webhooks/carriers/`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

# Carrier answers that mean "this will never work": no retry, the delivery fails with the carrier's code.
INVALID_NUMBER = 21211
OPTED_OUT = 21610
WHATSAPP_WINDOW_CLOSED = 63016
RATE_LIMITED = 20429
# Local codes for failures that happen before the carrier answers.
TIMEOUT = 20504  # (bridge) the carrier did not answer in time
UNREACHABLE = 20503  # (bridge) the carrier could not be reached


@dataclass(frozen=True)
class OutboundMessage:
    from_address: str  # the recipient's proxy address (`whatsapp:` kept)
    to_address: str  # the recipient's address (`whatsapp:` kept)
    body: str | None
    media_urls: list[str] = field(default_factory=list)
    status_callback: str | None = None
    content_sid: str | None = None
    content_variables: str | None = None
    reference: str | None = None  # the delivery SID, for logs and idempotency where the carrier has it


@dataclass(frozen=True)
class SendResult:
    carrier_message_sid: str
    status: str  # the carrier's first status, e.g. "queued"


class CarrierError(Exception):
    """A send that did not happen. `retryable` says whether trying again later can help."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        retryable: bool,
        http_status: int | None = None,
        retry_after: float | None = None,
        maybe_accepted: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.http_status = http_status
        self.retry_after = retry_after
        # The request may have reached the carrier and been accepted (no answer in time, connection cut after
        # sending): the next attempt looks it up before sending again.
        self.maybe_accepted = maybe_accepted


def classify(http_status: int, code: int | None, message: str, retry_after: float | None = None) -> CarrierError:
    """Timeouts, 5xx, 429 and 20429 are worth retrying; every other 4xx is the carrier's final word."""
    effective = code or http_status
    retryable = http_status >= 500 or http_status == 429 or code == RATE_LIMITED
    return CarrierError(effective, message, retryable=retryable, http_status=http_status, retry_after=retry_after)


@dataclass(frozen=True)
class CarrierRecord:
    """A message as the carrier lists it."""

    sid: str
    to_address: str
    from_address: str
    body: str | None
    created_at: datetime | None


# How far before an unsure attempt the carrier's record of it may be dated (clock skew, whole-second timestamps).
LOOKUP_SLACK = timedelta(seconds=60)


def accepted_earlier(
    records: Iterable[CarrierRecord], message: OutboundMessage, since: datetime, known: frozenset[str]
) -> str | None:
    """The SID of the carrier's record of `message` from an attempt whose answer was lost, or None.

    A record is that send when it goes to the same address from the same sender, carries the same text, was
    created no earlier than the attempt (less the slack), and is none of the messages the bridge recorded
    itself. A template's text is the carrier's rendering, so for a template send any text matches: the bridge
    sends one message at a time per recipient, so an unrecorded one in that window is the one in doubt.
    The oldest such record wins."""
    after = (since if since.tzinfo else since.replace(tzinfo=UTC)) - LOOKUP_SLACK
    found = None
    for record in records:
        if record.sid in known or record.to_address != message.to_address:
            continue
        if record.from_address != message.from_address:
            continue
        if record.created_at is not None and record.created_at < after:
            continue
        if message.content_sid is None and (record.body or "") != (message.body or ""):
            continue
        if found is None or (record.created_at or after) <= (found.created_at or after):
            found = record
    return found.sid if found else None


class Carrier(Protocol):
    name: str

    def send(self, message: OutboundMessage) -> SendResult: ...

    def find_accepted(self, message: OutboundMessage, since: datetime, known: frozenset[str]) -> str | None:
        """After an attempt whose answer was lost (since `since`): the carrier SID of `message` if the carrier
        accepted it then, None if it did not. Raises CarrierError when the carrier cannot be asked."""
        ...

    def inventory(self) -> Inventory:
        """The account's numbers and messaging services, every page read. Raises CarrierError when the carrier
        cannot be asked."""
        ...


@dataclass(frozen=True)
class AccountNumber:
    """A number the carrier account holds: an SMS/MMS phone number (PN...) or a WhatsApp sender (XE...)."""

    address: str  # +E164, or whatsapp:+E164
    carrier_sid: str | None


@dataclass(frozen=True)
class AccountService:
    """A messaging service of the carrier account (MG...) and the addresses in its sender pool."""

    sid: str
    friendly_name: str
    senders: tuple[str, ...]


@dataclass(frozen=True)
class Inventory:
    numbers: tuple[AccountNumber, ...] = ()
    services: tuple[AccountService, ...] = ()

"""What every carrier adapter speaks: one outbound message in, a carrier message SID or a CarrierError out.

A new carrier is one outbound module here plus one webhook module in `webhooks/carriers/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.http_status = http_status
        self.retry_after = retry_after


def classify(http_status: int, code: int | None, message: str, retry_after: float | None = None) -> CarrierError:
    """Timeouts, 5xx, 429 and 20429 are worth retrying; every other 4xx is the carrier's final word."""
    effective = code or http_status
    retryable = http_status >= 500 or http_status == 429 or code == RATE_LIMITED
    return CarrierError(effective, message, retryable=retryable, http_status=http_status, retry_after=retry_after)


class Carrier(Protocol):
    name: str

    def send(self, message: OutboundMessage) -> SendResult: ...

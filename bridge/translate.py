"""Rendering a channel-neutral message for one recipient's channel, just before it is sent. Pure: no I/O."""

from __future__ import annotations

from bridge.carriers.base import OutboundMessage
from bridge.delivery import DeliveryJob


def render(job: DeliveryJob, status_callback: str) -> list[OutboundMessage]:
    """The sends that carry `job` to its recipient, in order. From = their proxy address, To = their address."""
    return [
        OutboundMessage(
            from_address=job.proxy_address,
            to_address=job.address,
            body=job.body,
            content_sid=job.content_sid,
            content_variables=job.content_variables,
            status_callback=status_callback,
            reference=job.delivery_sid,
        )
    ]

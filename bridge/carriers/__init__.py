"""Carrier adapters. The bridge sends through Twilio, or through the built-in simulator without an account."""

from __future__ import annotations

from bridge.carriers.base import Carrier, CarrierError, OutboundMessage, SendResult
from bridge.carriers.simulator import SimulatorCarrier
from bridge.carriers.twilio import TwilioCarrier
from bridge.config import Settings

__all__ = ["Carrier", "CarrierError", "OutboundMessage", "SendResult", "build_carrier", "carrier_auth_token"]


def build_carrier(settings: Settings) -> Carrier:
    if settings.twilio_account_sid:
        return TwilioCarrier(
            settings.twilio_account_sid,
            settings.twilio_auth_token or "",
            settings.twilio_api_base_url,
            timeout=settings.carrier_timeout,
        )
    return SimulatorCarrier(settings.account_sid, settings.auth_token, settings.instance_dir)


def carrier_auth_token(settings: Settings) -> str:
    """The token the carrier signs its webhooks with: Twilio's auth token, or the bridge's own for the simulator."""
    return (settings.twilio_auth_token or "") if settings.twilio_account_sid else settings.auth_token


def carrier_account_sid(settings: Settings) -> str:
    return settings.twilio_account_sid or settings.account_sid

"""Carrier adapters. The bridge sends through Twilio, or through the built-in simulator, which sends nowhere: the
embedded default's carrier, and anywhere else only when BRIDGE_CARRIER=simulator asks for it."""

from __future__ import annotations

from bridge.carriers.base import Carrier, CarrierError, OutboundMessage, SendResult
from bridge.carriers.simulator import SimulatorCarrier
from bridge.carriers.twilio import TwilioCarrier
from bridge.config import NO_CARRIER, SIMULATOR, TWILIO, ConfigurationError, Settings

__all__ = [
    "Carrier",
    "CarrierError",
    "OutboundMessage",
    "SendResult",
    "build_carrier",
    "carrier_auth_token",
    "carrier_problem",
    "sends_nowhere",
]


def carrier_problem(settings: Settings) -> str | None:
    """Why a worker with these settings must not start (no carrier named on a real database), or None."""
    return NO_CARRIER if settings.carrier is None else None


def sends_nowhere(settings: Settings) -> bool:
    """The simulator: messages are recorded and answered as delivered, and none reaches a phone."""
    return settings.carrier == SIMULATOR


def build_carrier(settings: Settings) -> Carrier:
    if settings.carrier == TWILIO:
        return TwilioCarrier(
            settings.twilio_account_sid or "",
            settings.twilio_auth_token or "",
            settings.twilio_api_base_url,
            timeout=settings.carrier_timeout,
        )
    if settings.carrier == SIMULATOR:
        return SimulatorCarrier(settings.account_sid, settings.auth_token, settings.instance_dir)
    raise ConfigurationError(NO_CARRIER)


def carrier_auth_token(settings: Settings) -> str:
    """The token the carrier signs its webhooks with: Twilio's auth token, or the bridge's own for the simulator."""
    return (settings.twilio_auth_token or "") if settings.carrier == TWILIO else settings.auth_token


def carrier_account_sid(settings: Settings) -> str:
    return (settings.twilio_account_sid or "") if settings.carrier == TWILIO else settings.account_sid

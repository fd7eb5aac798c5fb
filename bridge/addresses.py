"""Messaging addresses: a channel (sms or whatsapp) and an E.164 number.

phonenumbers is lenient in ways that hurt a router (engineering notes 4.5): it drops a `whatsapp:` prefix
silently, maps letters to digits and turns `12345` into `+112345`. So the channel prefix is split off here,
letters and extensions are refused, and only international input (a leading `+`) is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

SMS = "sms"
WHATSAPP = "whatsapp"
CHAT = "chat"
UNKNOWN = "unknown"
CHANNEL_PREFIXES = {"whatsapp": WHATSAPP}

# What may surround the digits of a typed number: spaces, dots, dashes, brackets, slashes.
_ALLOWED = re.compile(r"^\+?[0-9 .\-()/\u00a0]+$")
MAX_ADDRESS_LENGTH = 256


class AddressError(ValueError):
    """The text is not a messaging address the bridge can route."""


@dataclass(frozen=True)
class Address:
    channel: str
    e164: str

    def __str__(self) -> str:
        return self.e164 if self.channel == SMS else f"{self.channel}:{self.e164}"


def parse_address(raw: str) -> Address:
    """`+1 415 555 2671` -> sms:+14155552671; `whatsapp:+14155552671` -> whatsapp:+14155552671."""
    if raw is None:
        raise AddressError("address is empty")
    text = raw.strip()
    if not text:
        raise AddressError("address is empty")
    if len(text) > MAX_ADDRESS_LENGTH:
        raise AddressError("address is longer than 256 characters")
    channel = SMS
    number_part = raw
    if ":" in text:
        prefix, _, rest = text.partition(":")
        channel = CHANNEL_PREFIXES.get(prefix.strip().lower(), "")
        if not channel:
            raise AddressError(f"unsupported channel prefix {prefix!r}")
        number_part, text = rest, rest.strip()
    if not text.startswith("+"):
        hint = ""
        if number_part[:1] == " " and text[:1].isdigit():
            # `+1415...` sent unencoded in a form body arrives as ` 1415...`: say so, it is the usual cause.
            hint = "; a '+' in a form body must be URL-encoded as %2B (e.g. curl --data-urlencode)"
        raise AddressError("address must be in international format with a leading + (E.164)" + hint)
    if not _ALLOWED.match(text):
        raise AddressError("address may contain only digits and formatting characters")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise AddressError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise AddressError("not a possible phone number")
    return Address(channel, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def channel_of(raw: str) -> str:
    return parse_address(raw).channel


def channel_named(raw: str) -> str:
    """The channel an address names by its prefix alone (`whatsapp:+1...`), the number unchecked: cheap enough for
    a carrier's callback, which names its recipient this way. `unknown` for nothing or an unknown prefix."""
    prefix, colon, _ = raw.strip().partition(":")
    if not colon:
        return SMS if raw.strip() else UNKNOWN
    return CHANNEL_PREFIXES.get(prefix.strip().lower(), UNKNOWN)


def region_of(address: Address) -> str | None:
    """ISO country code of the number (`US`, `GB`), or None when the numbering plan does not say."""
    number = phonenumbers.parse(address.e164, None)
    return phonenumbers.region_code_for_number(number) or None

"""Messaging addresses: what the router may treat as an SMS or WhatsApp number, and in which one form."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.addresses import SMS, WHATSAPP, Address, AddressError, parse_address, region_of


def _example_numbers() -> list[str]:
    """One real-shaped mobile number per region phonenumbers knows, in E.164."""
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if number is not None:
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return sorted(found)


E164_NUMBERS = st.sampled_from(_example_numbers())
SEPARATORS = st.sampled_from(["", "", " ", "-", ".", "/", "\u00a0"])


@st.composite
def formatted(draw: st.DrawFn, e164: str | None = None) -> tuple[str, str]:
    """(an E.164 number, the same number typed with separators between its digits)."""
    number = e164 or draw(E164_NUMBERS)
    digits = number[1:]
    typed = "+" + draw(st.sampled_from(["", " "]))
    for index, digit in enumerate(digits):
        typed += digit
        if index < len(digits) - 1:
            typed += draw(SEPARATORS)
    return number, typed


# --- properties -----------------------------------------------------------------------------------------


@given(formatted())
@settings(max_examples=150)
def test_formatting_characters_are_accepted_and_dropped(case: tuple[str, str]) -> None:
    e164, typed = case
    assert parse_address(typed) == Address(SMS, e164)


@given(st.text(max_size=40))
@example("+1 (201) 555-0100")
@example("whatsapp: +44 (0)20 7946 0018")
@settings(max_examples=300)
def test_parsing_is_idempotent_on_its_own_output(text: str) -> None:
    try:
        first = parse_address(text)
    except AddressError:
        return
    assert parse_address(str(first)) == first
    assert str(parse_address(str(first))) == str(first)


@given(formatted(), st.sampled_from(["whatsapp:", "WhatsApp:", "WHATSAPP: "]))
@settings(max_examples=100)
def test_the_whatsapp_prefix_round_trips(case: tuple[str, str], prefix: str) -> None:
    e164, typed = case
    address = parse_address(prefix + typed)

    assert address == Address(WHATSAPP, e164)
    assert str(address) == f"whatsapp:{e164}"
    assert parse_address(str(address)) == address


@given(formatted(), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz"), st.data())
@settings(max_examples=100)
def test_letters_are_refused(case: tuple[str, str], letter: str, data: st.DataObject) -> None:
    _, typed = case
    # Anywhere after the +: phonenumbers would otherwise map a vanity letter onto a keypad digit.
    position = data.draw(st.integers(min_value=1, max_value=len(typed)))
    with pytest.raises(AddressError):
        parse_address(typed[:position] + letter + typed[position:])


@given(formatted(), st.sampled_from([" x", " ext. ", " ext", ";ext=", "#", ",", " extension "]), st.integers(1, 9999))
@settings(max_examples=100)
def test_extensions_are_refused(case: tuple[str, str], marker: str, extension: int) -> None:
    _, typed = case
    with pytest.raises(AddressError):
        parse_address(f"{typed}{marker}{extension}")


@given(E164_NUMBERS)
@settings(max_examples=100)
def test_national_and_international_numbers_without_a_plus_are_refused(e164: str) -> None:
    number = phonenumbers.parse(e164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    for text in (national, e164[1:], f"00{e164[1:]}", f"whatsapp:{e164[1:]}"):
        with pytest.raises(AddressError):
            parse_address(text)


@given(st.text(alphabet="0123456789", min_size=3, max_size=8))
@settings(max_examples=100)
def test_short_codes_are_refused(code: str) -> None:
    for text in (code, f"whatsapp:{code}"):
        with pytest.raises(AddressError):
            parse_address(text)


@given(st.text(max_size=30))
@settings(max_examples=200)
def test_any_text_is_an_address_or_an_address_error(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError:
        return
    assert address.channel in (SMS, WHATSAPP)
    assert address.e164.startswith("+") and address.e164[1:].isdigit() and address.e164.isascii()


# --- examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+12015550100", "+12015550100"),
        ("  +1 (201) 555-0100  ", "+12015550100"),
        ("+1.201.555.0100", "+12015550100"),
        ("+44 (0)20 7946 0018", "+442079460018"),  # the UK trunk zero in brackets is dropped
        ("whatsapp:+14155552671", "whatsapp:+14155552671"),
        ("whatsapp: +1 415 555 2671", "whatsapp:+14155552671"),
    ],
)
def test_examples_that_parse(text: str, expected: str) -> None:
    assert str(parse_address(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "+",
        "whatsapp:",
        "sms:+12015550100",  # SMS has no prefix; an unknown prefix is not silently dropped
        "messenger:+12015550100",
        "tel:+12015550100",
        "whatsapp:whatsapp:+12015550100",
        "+1 201 555 0100 x123",
        "1-800-FLOWERS",
        "+1-800-FLOWERS",
        "ACME",
        "12345",
        "+12345",
        "+1\t201 555 0100",
        "+1+2015550100",
        "\uff0b\uff11\uff12\uff10\uff11\uff15\uff15\uff15\uff10\uff11\uff10\uff10",  # full-width digits
        "+1 201 555 0100\u202c",
        "+" + "1" * 300,
        "+999 1234 5678",  # no such country code
    ],
)
def test_examples_that_are_refused(text: str) -> None:
    with pytest.raises(AddressError):
        parse_address(text)


def test_none_is_refused() -> None:
    with pytest.raises(AddressError):
        parse_address(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "region"), [("+12015550100", "US"), ("+442079460018", "GB"), ("whatsapp:+4915123456789", "DE")]
)
def test_region_of_a_number(text: str, region: str) -> None:
    assert region_of(parse_address(text)) == region


@pytest.mark.parametrize("raw", [" 14155552671", "whatsapp: 14155552671"])
def test_an_unencoded_plus_gets_a_hint(raw: str) -> None:
    with pytest.raises(AddressError, match="%2B"):
        parse_address(raw)

"""Which addresses the media fetcher may reach, and which URLs it accepts, without any network I/O."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.fetch import FetchError, address_refusal, embedded_ipv4, fetch, resolve

ip = ipaddress.ip_address

ALWAYS_REFUSED = [
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "169.254.169.254",  # the cloud metadata endpoint
    "169.254.0.1",
    "fe80::1",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.10",
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",
    "2001:db8::1",
    "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "::7f00:1",  # IPv4-compatible 127.0.0.1 (deprecated)
    "fec0::1",
    "100::1",
]
PRIVATE = [
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "10.0.0.1",
    "172.16.5.4",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "52.95.110.1",
    "172.32.0.1",  # just outside 172.16.0.0/12
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_never_reachable_even_with_allow_private(address: str) -> None:
    assert address_refusal(ip(address)) is not None
    assert address_refusal(ip(address), allow_private=True) is not None


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_only_with_allow_private(address: str) -> None:
    assert address_refusal(ip(address)) in ("private address", "loopback address")
    assert address_refusal(ip(address), allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_reachable(address: str) -> None:
    assert address_refusal(ip(address)) is None


def _flags(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    names = ("is_private", "is_loopback", "is_link_local", "is_multicast", "is_reserved", "is_unspecified")
    return [name for name in names if getattr(address, name)]


@given(st.ip_addresses())
def test_an_allowed_address_is_global_and_has_no_special_flag(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if address_refusal(address) is None:
        target = embedded_ipv4(address)
        assert target.is_global
        assert _flags(target) == []


@given(st.ip_addresses())
def test_allow_private_never_opens_multicast_link_local_or_unspecified(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    target = embedded_ipv4(address)
    if target.is_multicast or target.is_link_local or target.is_unspecified:
        assert address_refusal(address, allow_private=True) is not None
    if address_refusal(address) is None:  # allow_private only ever loosens
        assert address_refusal(address, allow_private=True) is None


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_and_nat64_forms_are_judged_as_the_ipv4_address(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    for allow_private in (False, True):
        expected = address_refusal(address, allow_private)
        assert address_refusal(mapped, allow_private) == expected
        assert address_refusal(nat64, allow_private) == expected


@given(
    st.one_of(
        st.ip_addresses(network="10.0.0.0/8"),
        st.ip_addresses(network="172.16.0.0/12"),
        st.ip_addresses(network="192.168.0.0/16"),
        st.ip_addresses(network="127.0.0.0/8"),
        st.ip_addresses(network="fc00::/7"),
    )
)
def test_every_private_range_is_refused_by_default(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert address_refusal(address) is not None
    assert address_refusal(address, allow_private=True) is None


@given(st.ip_addresses(network="169.254.0.0/16") | st.ip_addresses(network="fe80::/10"))
def test_every_link_local_address_is_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert address_refusal(address, allow_private=True) == "link-local address"


def test_an_ip_literal_resolves_to_itself_without_dns() -> None:
    assert resolve("192.0.2.1", 80, timeout=0.01) == [ip("192.0.2.1")]
    assert resolve("::1", 443, timeout=0.01) == [ip("::1")]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http and https"),
        ("/relative/path", "only http and https"),
        ("http://user:secret@example.com/x", "credentials in the URL"),
        ("http:///no-host", "no host"),
        ("http://example.com:99999/", "malformed URL"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
    ],
)
def test_malformed_and_non_http_urls_are_refused_before_any_connection(url: str, message: str) -> None:
    with pytest.raises(FetchError) as refused:
        fetch(url, max_bytes=1000, timeout=1)
    assert message in refused.value.reason
    assert refused.value.retryable is False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://0.0.0.0:5000/",
        "https://10.0.0.1/",
    ],
)
def test_forbidden_literal_addresses_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(FetchError) as refused:
        fetch(url, max_bytes=1000, timeout=1)
    assert "refused" in refused.value.reason
    assert refused.value.retryable is False

"""An SSRF-safe HTTP GET, for the media URLs a carrier's inbound webhook names.

The URL comes from outside, so the bridge must not be talked into fetching from its own network (a cloud
metadata endpoint, an admin port on loopback, a database on a private address). `fetch`:

- accepts only http and https, without credentials in the URL;
- resolves the host and refuses the request if *any* address it resolves to is forbidden (`address_refusal`);
- connects to the address it checked, never resolving again (no DNS-rebinding window), while sending the
  original `Host` header and using the original host name for TLS (SNI and certificate check);
- follows at most `MAX_REDIRECTS` redirects, checking every hop the same way, and sends Basic auth only to
  the origin (scheme, host, port) it was given for: Twilio's media URLs redirect from api.twilio.com to a
  storage host, which must not see the account's credentials;
- stops reading past `max_bytes` and gives up after `timeout` seconds in all (DNS, connect, headers, body:
  a watchdog cuts the socket, so a server that drips one byte at a time cannot hold a worker);
- raises `FetchError(reason, retryable)`: retryable for timeouts, connection errors, 408, 429 and 5xx;
  final for other 4xx, a body that is too large, a refused address or a malformed URL.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.response import BaseHTTPResponse

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({408, 425, 429})  # plus every 5xx
DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK_BYTES = 64 * 1024
USER_AGENT = "twilio-bridge-media-fetcher/1.0"


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str | None  # the response's Content-Type header, as sent (None when absent)


class FetchError(Exception):
    """A fetch that did not produce the media. `retryable`: trying again later may succeed."""

    def __init__(self, reason: str, retryable: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status  # the HTTP status, when the server answered with an error

    def __repr__(self) -> str:
        return f"FetchError({self.reason!r}, retryable={self.retryable})"


# --- which addresses may be reached ------------------------------------------------------------------------


def _networks(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Reachable only with allow_private (tests, a media server on the same private network).
_LOOPBACK = _networks("127.0.0.0/8", "::1/128")
_PRIVATE = _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
# Never reachable. Link-local stays refused even with allow_private: it holds the cloud metadata endpoint
# (169.254.169.254), the classic SSRF target.
_UNSPECIFIED = _networks("0.0.0.0/8", "::/128")
_LINK_LOCAL = _networks("169.254.0.0/16", "fe80::/10")
_MULTICAST = _networks("224.0.0.0/4", "ff00::/8")
_RESERVED = _networks(
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # TEST-NET-2
    "203.0.113.0/24",  # TEST-NET-3
    "240.0.0.0/4",  # reserved, and the broadcast address
    "::/8",  # reserved, including the deprecated IPv4-compatible addresses
    "100::/64",  # discard-only
    "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)
    "2001:db8::/32",  # documentation
    "2002::/16",  # 6to4: embeds an IPv4 address the relay would reach for us
    "3fff::/20",  # documentation
    "5f00::/16",  # segment routing SIDs
    "64:ff9b:1::/48",  # local-use NAT64
    "fec0::/10",  # site-local (deprecated)
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _in(address: Address, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def embedded_ipv4(address: Address) -> Address:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`),
    so each is judged as the IPv4 address the packets would reach; any other address unchanged."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_refusal(address: Address, allow_private: bool = False) -> str | None:
    """Why the fetcher must not connect to `address`, or None when it may."""
    target = embedded_ipv4(address)
    if _in(target, _UNSPECIFIED):
        return "unspecified address"
    if _in(target, _MULTICAST):
        return "multicast address"
    if _in(target, _LINK_LOCAL):
        return "link-local address"
    if _in(target, _LOOPBACK):
        return None if allow_private else "loopback address"
    if _in(target, _PRIVATE):
        return None if allow_private else "private address"
    # Python's own flags too: unassigned IPv6 blocks are `is_reserved`, and anything not global is not public.
    if _in(target, _RESERVED) or target.is_reserved or target.is_private or not target.is_global:
        return "reserved address"
    return None


# --- resolving -----------------------------------------------------------------------------------------------

# getaddrinfo cannot be given a timeout; it runs here so the caller can stop waiting for it.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fetch-dns")


def resolve(host: str, port: int, timeout: float) -> list[Address]:
    """Every address `host` stands for (an IP literal stands for itself), in the resolver's order."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(timeout, 0.001))
    except FutureTimeout:
        raise FetchError(f"DNS lookup of {host} timed out", retryable=True) from None
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}", retryable=True) from None
    found: list[Address] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise FetchError(f"cannot resolve {host}", retryable=True)
    return found


# --- one request ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str  # IDNA-encoded name, or an IP literal without brackets
    port: int
    path: str  # path and query, as sent on the request line

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _parse(url: str) -> _Target:
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise FetchError("URL contains spaces or control characters", retryable=False)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"malformed URL: {exc}", retryable=False) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise FetchError(f"only http and https URLs can be fetched, not {scheme or 'a relative URL'!r}", False)
    if parts.username is not None or parts.password is not None:
        raise FetchError("credentials in the URL are not accepted", retryable=False)
    if not parts.hostname:
        raise FetchError("URL has no host", retryable=False)
    try:
        host = parts.hostname.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchError(f"host {parts.hostname!r} is not a valid name", retryable=False) from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(url, scheme, host, port or DEFAULT_PORTS[scheme], path)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, what: str) -> float:
        left = self.remaining()
        if left <= 0:
            raise FetchError(f"timed out {what}", retryable=True)
        return left


class _Watchdog:
    """Cuts a connection's socket when the deadline passes, whatever the thread reading it is waiting for."""

    def __init__(self, connection: HTTPConnection, seconds: float) -> None:
        # The socket itself: http.client drops `connection.sock` once a response that closes takes it over.
        self.sock = connection.sock
        self.fired = threading.Event()
        self.timer = threading.Timer(max(seconds, 0.0), self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self) -> None:
        self.fired.set()
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to cut
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self.timer.cancel()


def _connection(target: _Target, address: Address, timeout: float, ca_certs: str | None) -> HTTPConnection:
    if target.scheme == "https":
        # Connect to the checked address; verify the certificate (and send SNI) for the original host name.
        return HTTPSConnection(
            str(address),
            target.port,
            timeout=timeout,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs or certifi.where(),
            server_hostname=target.host,
        )
    return HTTPConnection(str(address), target.port, timeout=timeout)


def _connect(target: _Target, addresses: list[Address], deadline: _Deadline, ca_certs: str | None) -> HTTPConnection:
    """A connection to the first of `addresses` that answers (they were all checked)."""
    last_error: Exception | None = None
    for address in addresses:
        connection = _connection(target, address, deadline.check(f"connecting to {target.host}"), ca_certs)
        try:
            connection.connect()
            return connection
        except (ssl.SSLCertVerificationError, Urllib3SSLError) as exc:
            connection.close()
            # A certificate that does not verify will not verify next time either.
            raise FetchError(f"TLS certificate of {target.host} not accepted: {exc}", retryable=False) from None
        except (OSError, Urllib3Error) as exc:
            connection.close()
            last_error = exc
    raise FetchError(f"cannot connect to {target.host}:{target.port}: {last_error}", retryable=True)


def _basic_auth(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")


def _read_body(response: BaseHTTPResponse, max_bytes: int, watchdog: _Watchdog) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise FetchError(f"media is {int(declared)} bytes, over the {max_bytes}-byte limit", retryable=False)
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        # Asked for identity; decoding a compressed body could inflate it far past the cap before it is counted.
        raise FetchError(f"unsupported Content-Encoding {encoding!r}", retryable=False)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read1(CHUNK_BYTES)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(f"media exceeds the {max_bytes}-byte limit", retryable=False)
        chunks.append(chunk)
    if watchdog.fired.is_set():  # the cut socket can look like a clean end of a body without a length
        raise FetchError("timed out reading the body", retryable=True)
    return b"".join(chunks)


def _status_error(status: int, url: str) -> FetchError:
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    return FetchError(f"{url} answered HTTP {status}", retryable=retryable, status=status)


def fetch(
    url: str,
    *,
    auth: tuple[str, str] | None = None,
    max_bytes: int,
    timeout: float,
    allow_private: bool = False,
    ca_certs: str | None = None,
) -> Fetched:
    """GETs `url` under the rules in this module's docstring. `auth` is (username, password) for Basic auth,
    sent only to `url`'s own origin; `ca_certs` replaces the trusted CA bundle (for a private CA or tests)."""
    deadline = _Deadline(timeout)
    target = _parse(url)
    auth_origin = target.origin if auth else None
    for hop in range(MAX_REDIRECTS + 1):
        addresses = resolve(target.host, target.port, deadline.check(f"resolving {target.host}"))
        for address in addresses:
            refusal = address_refusal(address, allow_private)
            if refusal is not None:
                raise FetchError(f"{target.host} resolves to {address}, a {refusal}: refused", retryable=False)
        headers = {
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
        }
        if auth is not None and target.origin == auth_origin:
            headers["Authorization"] = _basic_auth(auth)
        connection = _connect(target, addresses, deadline, ca_certs)
        watchdog = _Watchdog(connection, deadline.remaining())
        try:
            try:
                connection.request("GET", target.path, headers=headers, preload_content=False)
                response = connection.getresponse()
            except (OSError, Urllib3Error) as exc:
                if watchdog.fired.is_set():
                    raise FetchError(f"timed out waiting for {target.host}", retryable=True) from None
                raise FetchError(f"request to {target.host} failed: {exc}", retryable=True) from None
            status = response.status
            if status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(f"{target.url} redirected without a Location", retryable=False)
                if hop == MAX_REDIRECTS:
                    raise FetchError(f"more than {MAX_REDIRECTS} redirects", retryable=False)
                target = _parse(urljoin(target.url, location.strip()))
                continue
            if not 200 <= status < 300:
                raise _status_error(status, target.url)
            try:
                data = _read_body(response, max_bytes, watchdog)
            except (OSError, Urllib3Error) as exc:
                if watchdog.fired.is_set():
                    raise FetchError("timed out reading the body", retryable=True) from None
                raise FetchError(f"reading from {target.host} failed: {exc}", retryable=True) from None
            content_type = response.headers.get("Content-Type")
            return Fetched(data, content_type.strip() if content_type else None)
        finally:
            watchdog.cancel()
            connection.close()
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

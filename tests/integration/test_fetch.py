"""The media fetcher against real HTTP(S) servers on loopback (the carrier's media hosts, faked)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bridge.fetch import MAX_REDIRECTS, FetchError, fetch
from tests.support.live import free_port
from tests.support.media_host import MediaHost, body, redirect

AUTH = ("AC" + "fa" * 16, "carrier-auth-token")


@pytest.fixture
def host() -> Iterator[MediaHost]:
    server = MediaHost()
    yield server
    server.stop()


@pytest.fixture
def other_host() -> Iterator[MediaHost]:
    server = MediaHost()
    yield server
    server.stop()


def get(url: str, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"max_bytes": 1_000_000, "timeout": 5.0, "allow_private": True}
    options.update(kwargs)
    return fetch(url, **options)


PHOTO = bytes(range(256)) * 40


def test_fetches_bytes_and_content_type(host: MediaHost) -> None:
    host.route("/media/ME1", body(PHOTO, "image/png"))
    fetched = get(host.url("/media/ME1"))
    assert fetched.data == PHOTO
    assert fetched.content_type == "image/png"


def test_sends_the_original_host_header_while_connecting_to_the_checked_address(host: MediaHost) -> None:
    host.route("/x", body(b"ok"))
    get(host.url("/x", host="localhost"))
    assert host.seen[-1].host == f"localhost:{host.port}"
    assert host.seen[-1].remote_addr == "127.0.0.1"


def test_loopback_is_refused_without_allow_private_and_nothing_is_sent(host: MediaHost) -> None:
    host.route("/x", body(b"secret"))
    for url in (host.url("/x"), host.url("/x", host="localhost")):
        with pytest.raises(FetchError) as refused:
            get(url, allow_private=False)
        assert "loopback" in refused.value.reason
        assert refused.value.retryable is False
    assert host.seen == []


def test_basic_auth_goes_to_the_origin_only_and_never_follows_a_redirect_elsewhere(
    host: MediaHost, other_host: MediaHost
) -> None:
    # Twilio's media URL answers with a redirect to a storage host: that host must not get the credentials.
    other_host.route("/stored/photo", body(PHOTO, "image/jpeg"))
    host.route("/2010-04-01/Media/ME1", redirect(other_host.url("/stored/photo", host="localhost"), 307))
    fetched = get(host.url("/2010-04-01/Media/ME1"), auth=AUTH)
    assert fetched.data == PHOTO
    assert host.seen[0].authorization is not None and host.seen[0].authorization.startswith("Basic ")
    assert other_host.seen[0].authorization is None
    assert other_host.seen[0].host == f"localhost:{other_host.port}"


def test_auth_is_kept_on_a_same_origin_redirect(host: MediaHost) -> None:
    host.route("/first", redirect("/second"))
    host.route("/second", body(b"data"))
    assert get(host.url("/first"), auth=AUTH).data == b"data"
    assert [seen.authorization is not None for seen in host.seen] == [True, True]


def test_a_different_port_on_the_same_host_is_another_origin(host: MediaHost, other_host: MediaHost) -> None:
    other_host.route("/y", body(b"data"))
    host.route("/x", redirect(other_host.url("/y")))
    get(host.url("/x"), auth=AUTH)
    assert other_host.seen[0].authorization is None


def test_at_most_three_redirects(host: MediaHost) -> None:
    for hop in range(MAX_REDIRECTS + 1):
        host.route(f"/hop{hop}", redirect(f"/hop{hop + 1}"))
    host.route(f"/hop{MAX_REDIRECTS}", body(b"three redirects away"))
    assert get(host.url("/hop0")).data == b"three redirects away"

    host.route(f"/hop{MAX_REDIRECTS}", redirect("/hop-too-far"))
    host.route("/hop-too-far", body(b"never"))
    with pytest.raises(FetchError) as refused:
        get(host.url("/hop0"))
    assert "redirects" in refused.value.reason
    assert refused.value.retryable is False
    assert "/hop-too-far" not in [seen.path for seen in host.seen]


@pytest.mark.parametrize(
    "target",
    [
        "http://0.0.0.0:{port}/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::]:{port}/x",
        "file:///etc/passwd",
    ],
)
def test_every_redirect_hop_is_checked_again(host: MediaHost, other_host: MediaHost, target: str) -> None:
    other_host.route("/x", body(b"internal"))
    host.route("/start", redirect(target.format(port=other_host.port)))
    with pytest.raises(FetchError) as refused:
        get(host.url("/start"))  # allow_private: loopback is fine, these are not
    assert refused.value.retryable is False
    assert other_host.seen == []


def test_a_declared_length_over_the_cap_is_refused_before_reading(host: MediaHost) -> None:
    host.route("/big", body(b"x" * 300_000))
    with pytest.raises(FetchError) as refused:
        get(host.url("/big"), max_bytes=100_000)
    assert "limit" in refused.value.reason and refused.value.retryable is False


def test_a_stream_without_length_stops_at_the_cap(host: MediaHost) -> None:
    sent: list[int] = []

    def endless(_request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            for _ in range(2000):  # 128 MB if nobody stopped reading; bounded so the server thread ends
                sent.append(1)
                yield b"y" * 65536

        return Response(chunks(), content_type="video/mp4")

    host.route("/endless", endless)
    started = time.monotonic()
    with pytest.raises(FetchError) as refused:
        get(host.url("/endless"), max_bytes=200_000)
    assert refused.value.retryable is False and "limit" in refused.value.reason
    assert time.monotonic() - started < 3
    assert len(sent) < 2000


def test_exactly_max_bytes_is_accepted(host: MediaHost) -> None:
    host.route("/exact", body(b"z" * 5000))
    assert len(get(host.url("/exact"), max_bytes=5000).data) == 5000


def test_a_slow_answer_times_out_as_retryable(host: MediaHost) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(3)
        return Response(b"late")

    host.route("/slow", slow)
    started = time.monotonic()
    with pytest.raises(FetchError) as failed:
        get(host.url("/slow"), timeout=0.5)
    assert failed.value.retryable is True and "timed out" in failed.value.reason
    assert time.monotonic() - started < 2


def test_the_time_limit_covers_the_whole_body_not_each_read(host: MediaHost) -> None:
    def drip(_request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            for _ in range(50):  # 10 s in all, one byte every 0.2 s: each read alone is quick
                yield b"d"
                time.sleep(0.2)

        return Response(chunks(), content_type="image/gif")

    host.route("/drip", drip)
    started = time.monotonic()
    with pytest.raises(FetchError) as failed:
        get(host.url("/drip"), timeout=1.0)
    assert failed.value.retryable is True and "timed out" in failed.value.reason
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("status", "retryable"), [(404, False), (403, False), (410, False), (429, True), (500, True), (503, True)]
)
def test_http_errors(host: MediaHost, status: int, retryable: bool) -> None:
    host.route("/err", lambda _request: Response("nope", status=status))
    with pytest.raises(FetchError) as failed:
        get(host.url("/err"))
    assert failed.value.status == status
    assert failed.value.retryable is retryable


def test_a_closed_port_is_a_retryable_connection_error() -> None:
    with pytest.raises(FetchError) as failed:
        get(f"http://127.0.0.1:{free_port()}/x")
    assert failed.value.retryable is True


def test_compressed_bodies_are_refused(host: MediaHost) -> None:
    host.route("/gz", body(b"\x1f\x8b...", "image/png", **{"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError) as refused:
        get(host.url("/gz"))
    assert "Content-Encoding" in refused.value.reason and refused.value.retryable is False


# --- TLS: connect to the checked address, verify the certificate for the original host name ----------------


@dataclass(frozen=True)
class LocalCA:
    ca_file: str
    server_context: ssl.SSLContext
    server_names: list[str]


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    from tests.support.tls import LocalAuthority

    authority = LocalAuthority(tmp_path_factory.mktemp("tls"))
    server = authority.issue("localhost", server=True)
    server_names: list[str] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.certificate_file, server.key_file)
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(str(name))  # type: ignore[assignment,misc]
    return LocalCA(str(authority.ca_file), context, server_names)


@pytest.fixture
def tls_host(local_ca: LocalCA) -> Iterator[MediaHost]:
    server = MediaHost(ssl_context=local_ca.server_context)
    yield server
    server.stop()


def test_https_verifies_the_certificate_for_the_host_name_not_the_address(
    tls_host: MediaHost, local_ca: LocalCA
) -> None:
    tls_host.route("/secure", body(PHOTO, "image/jpeg"))
    local_ca.server_names.clear()
    fetched = get(tls_host.url("/secure", host="localhost"), ca_certs=local_ca.ca_file)
    assert fetched.data == PHOTO
    assert local_ca.server_names == ["localhost"]  # SNI carried the name; the socket went to 127.0.0.1
    assert tls_host.seen[-1].remote_addr == "127.0.0.1"


def test_https_to_an_address_the_certificate_does_not_name_is_refused(tls_host: MediaHost, local_ca: LocalCA) -> None:
    tls_host.route("/secure", body(b"data"))
    with pytest.raises(FetchError) as refused:
        get(tls_host.url("/secure", host="127.0.0.1"), ca_certs=local_ca.ca_file)
    assert refused.value.retryable is False
    assert tls_host.seen == []


def test_https_with_an_untrusted_certificate_is_refused(tls_host: MediaHost) -> None:
    tls_host.route("/secure", body(b"data"))
    with pytest.raises(FetchError) as refused:
        get(tls_host.url("/secure", host="localhost"))  # the public CA bundle does not know the test CA
    assert refused.value.retryable is False
    assert tls_host.seen == []


def test_ipv6_literals_connect_to_the_literal() -> None:
    try:
        server = make_server("::1", 0, lambda env, start: Response(env["HTTP_HOST"])(env, start), threaded=True)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://[::1]:{server.server_port}/x"
        assert get(url).data == f"[::1]:{server.server_port}".encode()
        with pytest.raises(FetchError) as refused:
            get(url, allow_private=False)
        assert "loopback" in refused.value.reason
    finally:
        server.shutdown()
        thread.join(timeout=10)

"""`bridge webchat fetch-sdk`: the pinned SDK bundle from an npm registry (a loopback one here), checked against the
lock file's hash before anything is written."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers import webchat_sdk
from workers.webchat_sdk import BundleError, Pin

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLE = b"(function(){window.Twilio={Conversations:{}}})();"


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


PACKAGE = tarball({"package/builds/twilio-conversations.min.js": BUNDLE, "package/LICENSE": b"MIT"})


@pytest.fixture
def registry() -> Iterator[tuple[str, list[str]]]:
    """An npm registry on loopback holding @twilio/conversations 3.0.1; yields its URL and the paths asked for."""
    asked: list[str] = []

    class Registry(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if self.path != "/@twilio/conversations/-/conversations-3.0.1.tgz":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(PACKAGE)))
            self.end_headers()
            self.wfile.write(PACKAGE)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def test_the_bundle_and_its_licence_are_installed_when_the_hash_matches(
    registry: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, asked = registry
    pin = Pin("3.0.1", integrity_of(PACKAGE))
    assert not webchat_sdk.is_installed(pin, tmp_path)
    webchat_sdk.fetch(pin, url + "/", tmp_path)
    assert (tmp_path / "twilio-conversations.min.js").read_bytes() == BUNDLE
    assert (tmp_path / "twilio-conversations.LICENSE").read_bytes() == b"MIT"
    assert webchat_sdk.is_installed(pin, tmp_path)
    assert asked == ["/@twilio/conversations/-/conversations-3.0.1.tgz"]
    assert not webchat_sdk.is_installed(Pin("3.0.2", pin.integrity), tmp_path)  # a new pin fetches again


def test_a_download_that_does_not_match_the_lock_file_writes_nothing(
    registry: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, _ = registry
    with pytest.raises(BundleError, match="does not match"):
        webchat_sdk.fetch(Pin("3.0.1", integrity_of(b"something else")), url, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_version_or_file_is_a_clear_error(registry: tuple[str, list[str]], tmp_path: Path) -> None:
    url, _ = registry
    with pytest.raises(BundleError, match="could not download"):
        webchat_sdk.fetch(Pin("9.9.9", integrity_of(PACKAGE)), url, tmp_path)
    with pytest.raises(BundleError, match=r"has no builds/twilio-conversations\.min\.js"):
        webchat_sdk.unpack(tarball({"package/LICENSE": b"MIT"}), tmp_path)


def test_the_page_ships_the_sdk_version_the_chat_tests_judge() -> None:
    """The browser and Node tests run tests/chat_sdk's SDK: it must be the one /chat serves."""
    shipped = webchat_sdk.pinned()
    tested = webchat_sdk.pinned(REPO_ROOT / "tests" / "chat_sdk" / "package-lock.json")
    assert shipped == tested
    assert shipped.integrity.startswith("sha512-")

"""Errors reach Sentry when SENTRY_DSN is set, and carry no phone numbers or bodies: a DSN pointing at a loopback
HTTP server receives the real SDK's envelope from an error raised in a Flask view (the Flask integration, as the web
process sets it up through bridge/errortracking.py)."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
from flask import Flask
from sentry_sdk.integrations.flask import FlaskIntegration

from bridge import errortracking
from tests.support.waiting import eventually


class FakeSentry:
    """Sentry's ingestion endpoint on loopback: keeps each envelope it is sent."""

    def __init__(self) -> None:
        self.envelopes: list[list[dict[str, Any]]] = []
        received = self.envelopes

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                received.append([json.loads(line) for line in body.splitlines() if line.strip().startswith(b"{")])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def dsn(self) -> str:
        return f"http://public-key@127.0.0.1:{self.server.server_address[1]}/42"

    def events(self) -> list[dict[str, Any]]:
        return [item for envelope in self.envelopes for item in envelope if "exception" in item]


@pytest.fixture
def fake_sentry() -> Iterator[FakeSentry]:
    server = FakeSentry()
    yield server
    sentry_sdk.init()  # no DSN: this process sends nothing from here on
    server.server.shutdown()


def test_without_a_dsn_nothing_is_set_up() -> None:
    assert errortracking.init(None, [FlaskIntegration()]) is False


def test_an_error_in_a_view_reaches_sentry_with_numbers_and_bodies_masked(fake_sentry: FakeSentry) -> None:
    assert errortracking.init(fake_sentry.dsn, [FlaskIntegration()])
    app = Flask("sentry-test")

    @app.post("/send")
    def send() -> str:
        raise RuntimeError("carrier refused To=%2B14155552671 Body=Meet+me+at+5 for +14155552671")

    response = app.test_client().post("/send", data={"To": "+14155552671", "Body": "Meet me at 5"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    (event,) = eventually(fake_sentry.events, timeout=10)
    text = json.dumps(event)
    assert "RuntimeError" in text and "+1415***2671" in text
    assert "14155552671" not in text and "Meet" not in text
    assert not event["request"].get("data")  # no request body attached

"""A worker's own metrics endpoint, when BRIDGE_METRICS_PORT asks for one: `GET /metrics` on
BRIDGE_METRICS_ADDRESS (127.0.0.1 unless told otherwise), behind BRIDGE_METRICS_TOKEN like the web's.

Where the web and the workers share a machine (`bridge run`), the web's /metrics already shows the workers. Where
they do not (Heroku dynos, containers: no shared disk), a worker's counts exist only in that worker, and this is
where a scraper (or an agent beside it) reads them. A small WSGI app on the standard library's server, in a
daemon thread: prometheus_client's own `start_http_server` has no way to ask for credentials.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bridge import errors, metrics_scrape
from bridge.config import Settings
from bridge.errors import BridgeError

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line each."""


def metrics_app(token: str) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET":
            return _error(start_response, BridgeError(errors.NOT_FOUND, "The requested resource was not found", 404))
        refused = metrics_scrape.refusal(environ.get("HTTP_AUTHORIZATION"), token)
        if refused is not None:
            return _error(start_response, *refused)
        body, content_type = metrics_scrape.render(metrics_scrape.registry(), environ.get("HTTP_ACCEPT"))
        start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body]

    return app


def _error(start_response: StartResponse, error: BridgeError, headers: dict[str, str] | None = None) -> list[bytes]:
    start_response(
        f"{error.status} {HTTPStatus(error.status).phrase}",
        [("Content-Type", "application/json"), *(headers or {}).items()],
    )
    return [json.dumps(error.as_dict()).encode()]


def serve(settings: Settings) -> WSGIServer:
    """Starts the endpoint in a daemon thread; it lives as long as the worker process."""
    assert settings.metrics_port is not None and settings.metrics_token
    server = make_server(
        settings.metrics_address,
        settings.metrics_port,
        metrics_app(settings.metrics_token),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics-endpoint", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", settings.metrics_address, settings.metrics_port)
    return server

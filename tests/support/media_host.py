"""A fake media host on loopback (a carrier's media server): a threaded WSGI server answering each path with
a handler, and recording every request it received."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]


@dataclass
class Seen:
    path: str
    host: str | None
    authorization: str | None
    remote_addr: str | None


@dataclass
class MediaHost:
    """A threaded WSGI server on 127.0.0.1 answering each path with its handler, recording every request."""

    ssl_context: ssl.SSLContext | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, ssl_context=self.ssl_context
        )
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="media-host", daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        self.handlers[path] = handler

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        self.seen.append(
            Seen(request.path, request.headers.get("Host"), request.headers.get("Authorization"), request.remote_addr)
        )
        handler = self.handlers.get(request.path)
        response = handler(request) if handler else Response("no such media", status=404)
        return response(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def body(data: bytes, content_type: str = "image/jpeg", **headers: str) -> Handler:
    return lambda _request: Response(data, content_type=content_type, headers=headers)


def redirect(location: str, status: int = 302) -> Handler:
    return lambda _request: Response("", status=status, headers={"Location": location})

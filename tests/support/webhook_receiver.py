"""An application's webhook receiver on loopback, as a Twilio Conversations customer runs one.

Every request is checked with `twilio.request_validator.RequestValidator` against the URL the bridge called (the
receiver's own code would do exactly that) and recorded. A test decides the answers: a status, a JSON body for
pre-event webhooks, a delay; or takes the receiver down (connections refused) and brings it back on the same port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twilio.request_validator import RequestValidator
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tests.support.live import free_port


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    url: str
    fields: dict[str, str]
    headers: dict[str, str]
    signature_valid: bool
    at: float

    @property
    def event_type(self) -> str:
        return self.fields.get("EventType", "")


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # a dict or list is sent as JSON; a str as it is
    delay: float = 0.0


@dataclass
class WebhookReceiver:
    auth_token: str
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Answer] = field(default=lambda _: Answer())
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: BaseWSGIServer | None = None
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/hooks") -> str:
        return self.base + path

    def start(self) -> None:
        self.server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Down: the port refuses connections until `start`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.thread is not None:
            self.thread.join(timeout=10)
            self.thread = None

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
        self.answer = lambda _: Answer()

    def requests(self, event_type: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if event_type is None or r.event_type == event_type]

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        # The URL exactly as called: Werkzeug's `request.url` turns percent-escapes back into characters, and a
        # signature is over the bytes the caller sent.
        query = environ.get("QUERY_STRING", "")
        url = f"{self.base}{request.path}" + (f"?{query}" if query else "")
        if request.method == "GET":
            fields = {k: v for k, v in request.args.items()}
            valid = RequestValidator(self.auth_token).validate(url, {}, request.headers.get("X-Twilio-Signature", ""))
        else:
            fields = {k: v for k, v in request.form.items()}
            valid = RequestValidator(self.auth_token).validate(
                url, request.form, request.headers.get("X-Twilio-Signature", "")
            )
        received = Received(
            method=request.method,
            path=request.path,
            url=url,
            fields=fields,
            headers=dict(request.headers.items()),
            signature_valid=valid,
            at=time.monotonic(),
        )
        with self.lock:
            self.received.append(received)
        answer = self.answer(received)
        if answer.delay:
            time.sleep(answer.delay)
        if isinstance(answer.body, dict | list):
            response = Response(json.dumps(answer.body), status=answer.status, mimetype="application/json")
        else:
            response = Response(answer.body or "", status=answer.status)
        return response(environ, start_response)

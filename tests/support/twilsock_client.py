"""A bare twilsock client (no SDK): frames exactly as a test writes them, for crafted and malformed requests."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gateway.frames import Frame, decode, encode


class RawClient:
    def __init__(self, url: str, origin: str | None = None) -> None:
        self.socket: ClientConnection = connect(url, open_timeout=10, max_size=4 * 1024 * 1024, origin=origin)
        self.notifications: list[Frame] = []

    def close(self) -> None:
        self.socket.close()

    def send_raw(self, data: bytes) -> bool:
        """Whether the socket was still open to take it."""
        try:
            self.socket.send(data)
        except ConnectionClosed:
            return False
        return True

    def frame(self, timeout: float = 10.0) -> Frame:
        return decode(self.socket.recv(timeout))

    def reply_to(self, request_id: str, timeout: float = 10.0) -> Frame:
        """The reply with this id; notifications on the way are kept (and acknowledged, as the SDK does)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.frame(max(0.1, deadline - time.monotonic()))
            if frame.method == "reply" and frame.id == request_id:
                return frame
            if frame.method in ("notification", "ping", "client_update"):
                self.socket.send(encode({"method": "reply", "id": frame.id, "status": {"code": 200, "status": "OK"}}))
                self.notifications.append(frame)

    def notification(self, predicate: Any, timeout: float = 5.0) -> Any:
        """The payload of the first notification (kept or still to come) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for frame in self.notifications[seen:]:
                if frame.method == "notification" and predicate(frame.json_payload()):
                    return frame.json_payload()
            seen = len(self.notifications)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no such notification")
            try:
                self.reply_to("(none)", timeout=remaining)
            except TimeoutError:
                continue

    def init(self, token: str) -> Frame:
        request_id = "TM" + str(uuid.uuid4())
        header = {"id": request_id, "method": "init", "token": token, "continuation_token": None,
                  "capabilities": ["client_update"], "registrations": [], "metadata": {}}  # fmt: skip
        self.socket.send(encode(header))
        return self.reply_to(request_id)

    def request(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """An upstream request; returns its HTTP status and JSON body."""
        request_id = "TM" + str(uuid.uuid4())
        header = {
            "id": request_id,
            "method": "message",
            "active_grant": "ip_messaging",
            "payload_type": "application/json",
            "http_request": {"host": "aim.us1.twilio.com", "path": path, "method": method, "params": params or {},
                             "headers": {"Content-Type": "application/json"}},
        }  # fmt: skip
        self.socket.send(encode(header, None if body is None else json.dumps(body)))
        reply = self.reply_to(request_id)
        return int(reply.header["http_status"]["code"]), reply.json_payload()

    def is_closed(self, timeout: float = 5.0) -> bool:
        try:
            while True:
                self.frame(timeout)
        except ConnectionClosed:
            return True
        except TimeoutError:
            return False

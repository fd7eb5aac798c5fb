"""Fake FCM and APNs on loopback, speaking their real APIs, so the push workers run unmodified against them.

FakeFCM: Google's OAuth2 token endpoint (the service-account JWT-bearer grant: the assertion's RS256 signature is
checked against the key pair this fake made, its audience and scope too) and FCM HTTP v1's
`POST /v1/projects/{project}/messages:send` (the bearer token must be one it issued). Knobs: tokens answered
UNREGISTERED, tokens refused as INVALID_ARGUMENT, the next N sends answered 500 (with a Retry-After).

FakeAPNs: HTTP/2 over TLS (hypercorn), requiring a client certificate from the test CA, `POST /3/device/{token}`.
Knobs: tokens answered 410 Unregistered, tokens refused as BadDeviceToken, the next N answered 503.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tests.support.live import free_port
from tests.support.tls import Issued, LocalAuthority

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth addresses its assertion to Google's token endpoint whatever the key's token_uri, and Google checks
# that audience; so does this fake (its own URL is accepted too).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class PushRequest:
    """One request a fake received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    http_version: str = "1.1"

    @property
    def token(self) -> str:
        """The device token it was for."""
        if self.path.startswith("/3/device/"):
            return self.path.removeprefix("/3/device/")
        return str(self.body.get("message", {}).get("token", ""))


class _Recording:
    """What both fakes keep: the requests they accepted and refused, and how many of the next ones to fail."""

    label = "fake"
    lock: threading.Lock
    sends: list[PushRequest]
    refused: list[PushRequest]
    fail_next: int

    def snapshot(self) -> list[PushRequest]:
        with self.lock:
            return list(self.sends)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[PushRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.snapshot()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{self.label} received {len(self.snapshot())} pushes, expected {count}")

    def _clear(self, *token_sets: set[str]) -> None:
        with self.lock:
            self.sends.clear()
            self.refused.clear()
            for tokens in token_sets:
                tokens.clear()
            self.fail_next = 0

    def _failing(self) -> bool:
        """Whether this request is one of the next N to fail (and counts it)."""
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False

    def _record(self, received: PushRequest, accepted: bool) -> None:
        with self.lock:
            (self.sends if accepted else self.refused).append(received)


@dataclass
class FakeFCM(_Recording):
    label = "fake FCM"
    project_id: str = "bridge-test-project"
    client_email: str = "bridge-push@bridge-test-project.iam.gserviceaccount.com"
    token_lifetime: int = 3600
    unregistered: set[str] = field(default_factory=set)  # device tokens answered 404 UNREGISTERED
    invalid: set[str] = field(default_factory=set)  # device tokens refused with 400 INVALID_ARGUMENT
    fail_next: int = 0  # the next N sends are answered 500
    retry_after: int | None = None  # sent with those 500s
    sends: list[PushRequest] = field(default_factory=list)  # accepted messages:send requests
    refused: list[PushRequest] = field(default_factory=list)  # messages:send requests answered with an error
    grants: int = 0  # access tokens issued

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(8)
        self.access_tokens: set[str] = set()
        self.port = free_port()
        self.server: BaseWSGIServer = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-fcm", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account_json(self) -> str:
        """The credential's Secret: a service account key whose token_uri is this fake."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return json.dumps(
            {
                "type": "service_account",
                "project_id": self.project_id,
                "private_key_id": self.key_id,
                "private_key": pem,
                "client_email": self.client_email,
                "client_id": "1234567890",
                "token_uri": self.token_uri,
            }
        )

    def stop(self) -> None:
        self.server.shutdown()

    def reset(self) -> None:
        self._clear(self.unregistered, self.invalid)
        self.retry_after = None

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.method == "POST" and request.path == "/token":
            response = self._grant(request)
        elif request.method == "POST" and request.path.endswith(":send"):
            response = self._send(request)
        else:
            response = _google_error(404, "NOT_FOUND", f"{request.path} not found")
        return response(environ, start_response)

    def _grant(self, request: Request) -> Response:
        """Google's token endpoint: a JWT-bearer grant signed with the service account's key."""
        if request.form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "grant_type must be the JWT bearer grant")
        try:
            claims = jwt.decode(
                request.form.get("assertion", ""),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=[GOOGLE_TOKEN_AUDIENCE, self.token_uri],
                issuer=self.client_email,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except jwt.InvalidTokenError as error:
            return _oauth_error("invalid_grant", f"Invalid JWT: {error}")
        if FCM_SCOPE not in str(claims.get("scope", "")).split():
            return _oauth_error("invalid_scope", "the firebase.messaging scope is missing")
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self.lock:
            self.access_tokens.add(token)
            self.grants += 1
        body = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return Response(json.dumps(body), mimetype="application/json")

    def _send(self, request: Request) -> Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            authorised = bearer in self.access_tokens
        if not authorised:
            return _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if request.path != f"/v1/projects/{self.project_id}/messages:send":
            return _google_error(403, "PERMISSION_DENIED", "The caller does not have permission", "SENDER_ID_MISMATCH")
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        received = PushRequest(request.path, dict(request.headers), body)
        token = received.token
        response: Response | None = None
        if self._failing():
            response = _google_error(500, "INTERNAL", "Internal error encountered.")
            if self.retry_after is not None:
                response.headers["Retry-After"] = str(self.retry_after)
        elif token in self.unregistered:
            response = _google_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        elif token in self.invalid:
            response = _google_error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                "INVALID_ARGUMENT",
            )
        elif not _all_strings(body.get("message", {}).get("data", {})):
            response = _google_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data': not a string")
        self._record(received, accepted=response is None)
        if response is not None:
            return response
        name = f"projects/{self.project_id}/messages/{secrets.token_hex(8)}"
        return Response(json.dumps({"name": name}), mimetype="application/json")


def _all_strings(data: Any) -> bool:
    """FCM refuses a data map whose values are not all strings."""
    return isinstance(data, dict) and all(isinstance(value, str) for value in data.values())


def _google_error(status: int, code: str, message: str, fcm_code: str | None = None) -> Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if fcm_code:
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]
    return Response(json.dumps({"error": error}), status=status, mimetype="application/json")


def _oauth_error(code: str, description: str) -> Response:
    return Response(
        json.dumps({"error": code, "error_description": description}), status=400, mimetype="application/json"
    )


@dataclass
class FakeAPNs(_Recording):
    """APNs' provider API over HTTP/2 and TLS, with client certificates from `authority`."""

    label = "fake APNs"

    authority: LocalAuthority
    unregistered: set[str] = field(default_factory=set)  # 410 Unregistered
    bad_tokens: set[str] = field(default_factory=set)  # 400 BadDeviceToken
    fail_next: int = 0  # the next N answered 503
    sends: list[PushRequest] = field(default_factory=list)
    refused: list[PushRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        self.lock = threading.Lock()
        server = self.authority.issue("localhost", server=True)
        self.client: Issued = self.authority.issue("apns client", server=False)
        self.port = free_port()
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.certfile, config.keyfile = str(server.certificate_file), str(server.key_file)
        config.ca_certs = str(self.authority.ca_file)
        config.verify_mode = ssl.CERT_REQUIRED  # APNs authenticates the provider by its certificate
        config.loglevel = "WARNING"
        config.accesslog = None
        config.errorlog = None
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(serve(self._app, config, shutdown_trigger=self._until_stopped))

        self.thread = threading.Thread(target=run, name="fake-apns", daemon=True)
        self.thread.start()
        self._wait_listening()

    async def _until_stopped(self) -> None:
        await self.stopping.wait()

    def _wait_listening(self) -> None:
        import socket

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("the fake APNs did not start")

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.authority.ca_file

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(timeout=10)

    def reset(self) -> None:
        self._clear(self.unregistered, self.bad_tokens)

    async def _app(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {key.decode(): value.decode() for key, value in scope["headers"]}
        try:
            body = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            body = {}
        received = PushRequest(scope["path"], headers, body, scope.get("http_version", ""))
        status, reason = self._answer(scope["method"], received)
        self._record(received, accepted=status == 200)
        answer = b"" if status == 200 else json.dumps({"reason": reason}).encode()
        response_headers = [(b"apns-id", secrets.token_hex(16).encode())]
        if answer:
            response_headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": answer})

    def _answer(self, method: str, received: PushRequest) -> tuple[int, str]:
        if method != "POST" or not received.path.startswith("/3/device/"):
            return 405 if method != "POST" else 404, "MethodNotAllowed" if method != "POST" else "BadPath"
        if received.headers.get("apns-push-type") not in ("alert", "background"):
            return 400, "InvalidPushType"
        if "aps" not in received.body:
            return 400, "PayloadEmpty"
        if self._failing():
            return 503, "ServiceUnavailable"
        if received.token in self.unregistered:
            return 410, "Unregistered"
        if received.token in self.bad_tokens:
            return 400, "BadDeviceToken"
        return 200, ""

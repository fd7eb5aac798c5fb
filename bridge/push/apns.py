"""Apple Push Notification service over HTTP/2, authenticated by the credential's certificate and private key
(a client TLS certificate): `POST {base}/3/device/{token}`.

One HTTP/2 client per credential (APNs asks providers to keep their connections open rather than reconnect for
every push), built with the credential's key pair and kept while the credential is unchanged. Called only from
workers.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
import threading
import time
from pathlib import Path

import certifi
import httpx

from bridge import jsontext
from bridge.models import PushCredential
from bridge.push.outbox import Result
from bridge.push.payloads import Push, apns_payload
from bridge.timeutil import retry_after_seconds

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"
EXPIRATION_SECONDS = 24 * 3600  # APNs keeps trying a device that is off for this long, then drops the push
PRIORITY = "10"  # an alert shown at once

# APNs' reasons that say the token is dead (410 always does).
_DEAD_TOKEN = {"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"}


class CredentialProblem(Exception):
    """The credential cannot be used: no certificate or key, or ones TLS cannot load."""


class Clients:
    """An HTTP/2 client per credential key pair, shared by the worker's threads (httpx clients are)."""

    def __init__(self, timeout: float, ca_file: str | None = None) -> None:
        self.timeout = timeout
        self.ca_file = ca_file
        self._lock = threading.Lock()
        self._by_key: dict[str, httpx.Client] = {}

    def client(self, credential: PushCredential) -> httpx.Client:
        digest = hashlib.sha256(f"{credential.certificate}\0{credential.private_key}".encode()).hexdigest()
        with self._lock:
            found = self._by_key.get(digest)
            if found is None:
                found = httpx.Client(http2=True, verify=self._tls(credential), timeout=self.timeout)
                self._by_key[digest] = found
            return found

    def _tls(self, credential: PushCredential) -> ssl.SSLContext:
        if not credential.certificate or not credential.private_key:
            raise CredentialProblem("the APN credential needs both a Certificate and a PrivateKey")
        context = ssl.create_default_context(cafile=self.ca_file or certifi.where())
        # ssl loads a key pair only from files: written to a private folder for the moment it takes.
        with tempfile.TemporaryDirectory(prefix="bridge-apns-") as folder:
            pair = Path(folder) / "pair.pem"
            pair.touch(mode=0o600)
            pair.write_text(credential.certificate.strip() + "\n" + credential.private_key.strip() + "\n")
            try:
                context.load_cert_chain(pair)
            except (ssl.SSLError, ValueError) as error:
                raise CredentialProblem(f"the APN credential's certificate or key is not usable: {error}") from None
            finally:
                os.unlink(pair)
        context.set_alpn_protocols(["h2"])
        return context

    def close(self) -> None:
        with self._lock:
            for client in self._by_key.values():
                client.close()
            self._by_key.clear()


def base_url(credential: PushCredential, configured: str | None) -> str:
    if configured:
        return configured.rstrip("/")
    return SANDBOX_URL if credential.sandbox else PRODUCTION_URL


def send(clients: Clients, credential: PushCredential, push: Push, device_token: str, configured: str | None) -> Result:
    """One push to one device. Never raises for what APNs or the network answers: it becomes the Result."""
    try:
        http = clients.client(credential)
    except CredentialProblem as problem:
        return Result("failed", None, str(problem))
    headers = {
        "apns-push-type": "alert",
        "apns-priority": PRIORITY,
        "apns-expiration": str(int(time.time()) + EXPIRATION_SECONDS),
    }
    # No apns-topic: with certificate authentication APNs takes the topic from the certificate.
    url = f"{base_url(credential, configured)}/3/device/{device_token}"
    try:
        reply = http.post(url, json=apns_payload(push), headers=headers)
    except httpx.HTTPError as error:
        return Result("retry", None, f"APNs not reached: {type(error).__name__}")
    if reply.status_code == 200:
        return Result.sent()
    reason = _reason(reply)
    retry_after = retry_after_seconds(reply.headers.get("Retry-After"))
    if reply.status_code == 410 or reason in _DEAD_TOKEN:
        return Result("unregistered", reply.status_code, reason)
    if reply.status_code == 429 or reply.status_code >= 500:
        return Result("retry", reply.status_code, reason, retry_after)
    return Result("failed", reply.status_code, reason)


def _reason(reply: httpx.Response) -> str:
    try:
        body = jsontext.loads(reply.text)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("reason"):
        return str(body["reason"])[:200]
    return f"HTTP {reply.status_code}"

"""What a Prometheus scrape reads, and who may read it; shared by the web's `/metrics` and a worker's own endpoint.

A scrape reads every process's values: with PROMETHEUS_MULTIPROC_DIR set, the files that all the processes sharing
that directory wrote (prometheus_client's MultiProcessCollector, as its multiprocess documentation prescribes: a
fresh registry per scrape, holding nothing else of this process); without it, this process's own registry.

Credentials: `Authorization: Bearer <BRIDGE_METRICS_TOKEN>`, or HTTP Basic with the username `metrics` and the
token as the password (for scrapers that speak only Basic). Neither the API's nor the admin's credentials open it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from bridge import errors, metrics_dir
from bridge.errors import BridgeError

BASIC_USERNAME = "metrics"


class _ThisProcess:
    """This process's registry, as one collector of a scrape's registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def registry(*collectors: Collector) -> CollectorRegistry:
    """A registry for one scrape: every process's metrics, then `collectors` (computed at scrape time)."""
    scrape = CollectorRegistry()
    if os.environ.get(metrics_dir.VARIABLE):
        MultiProcessCollector(scrape)
    else:
        scrape.register(_ThisProcess())
    for collector in collectors:
        scrape.register(collector)
    return scrape


def render(scrape: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The exposition body and its content type: Prometheus' text format, or OpenMetrics when the scraper asks."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(scrape), content_type


def presented_token(authorization: str) -> str | None:
    """The token an Authorization header carries: a Bearer token, or the password of Basic `metrics:<token>`."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, given = decoded.partition(":")
    return given if colon and username == BASIC_USERNAME else None


def refusal(authorization: str | None, token: str) -> tuple[BridgeError, dict[str, str]] | None:
    """Why a scrape is not served, and the headers of that answer; None when it is. No token configured: 404,
    metrics are never open by default. A wrong or missing one: 401."""
    if not token:
        return BridgeError(errors.NOT_FOUND, "The requested resource was not found", 404), {}
    if not authorized(authorization, token):
        refused = BridgeError(errors.AUTHENTICATE, "Authenticate with BRIDGE_METRICS_TOKEN", 401)
        return refused, {"WWW-Authenticate": 'Bearer realm="metrics"'}
    return None


def authorized(authorization: str | None, token: str) -> bool:
    """Whether the header carries `token`, compared in constant time. Never true while no token is configured."""
    presented = presented_token(authorization or "")
    if not token or presented is None:
        return False
    return hmac.compare_digest(presented.encode(), token.encode())

"""`GET /metrics`: Prometheus' scrape of every process sharing this web process's metrics directory, behind
BRIDGE_METRICS_TOKEN (bridge/metrics_scrape.py). Without a token configured the route answers 404: metrics are
never open by default."""

from __future__ import annotations

from flask import Blueprint, Response, request

from bridge import errors, metrics_scrape
from bridge.errors import BridgeError
from webhooks.api.base import settings
from webhooks.errors import error_response

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def scrape() -> Response:
    token = settings().metrics_token
    if not token:
        return error_response(BridgeError(errors.NOT_FOUND, "The requested resource was not found", 404))
    if not metrics_scrape.authorized(request.headers.get("Authorization"), token):
        refusal = BridgeError(errors.AUTHENTICATE, "Authenticate with BRIDGE_METRICS_TOKEN", 401)
        return error_response(refusal, {"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, content_type = metrics_scrape.render(metrics_scrape.registry(), request.headers.get("Accept"))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})

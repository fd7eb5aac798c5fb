"""`GET /openapi.json`: the bridge's OpenAPI document (bridge/openapi/document.py). Unauthenticated: it is
documentation, and says nothing the README does not."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app

from bridge.openapi.document import build_document
from webhooks.api.base import settings

blueprint = Blueprint("openapi", __name__)
CACHE = "bridge.openapi_json"


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    # Built once per app (about a megabyte of JSON), with this bridge's public URL as its server.
    body = current_app.extensions.get(CACHE)
    if body is None:
        body = current_app.extensions.setdefault(CACHE, json.dumps(build_document(settings().public_base_url)))
    return Response(body, mimetype="application/json")

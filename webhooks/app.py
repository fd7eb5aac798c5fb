"""The HTTP edge: REST API, carrier webhooks and pages. It validates, stores and enqueues; nothing slower."""

from __future__ import annotations

import io
import logging

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge import accounts, logmask
from bridge.config import Settings
from bridge.db import Database
from bridge.errors import BridgeError
from webhooks import admin as admin_faces
from webhooks import errors, metrics, openapi
from webhooks.api import blueprints
from webhooks.auth import authenticated
from webhooks.carriers import twilio as twilio_webhooks
from webhooks.errors import error_response

API_PREFIXES = ("/v1/", "/messaging/v1/")
# Routes that read (and bound) their own request bodies: media uploads go up to BRIDGE_MEDIA_MAX_BYTES.
OWN_BODY_LIMIT = frozenset({"media.create_media"})


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logmask.install()  # phone numbers and bodies masked in what the root handlers write (bridge/logmask.py)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["bridge.settings"] = settings
    from workers import celery_app
    from workers.dispatch import enqueue

    celery_app.configure(celery_app.app, settings)
    database = database or Database(settings.database_url, dispatcher=enqueue)
    app.extensions["bridge.database"] = database
    if settings.proxy_count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxy_count,
            x_proto=settings.proxy_count,
            x_host=settings.proxy_count,
        )
    with database.transaction() as session:
        accounts.ensure_defaults(session)

    errors.register(app)

    @app.before_request
    def _refuse_oversized_chunked_bodies() -> None:
        """A body sent without Content-Length (chunked) would be silently cut at MAX_CONTENT_LENGTH by Werkzeug
        and parsed as if whole. Read it here, refuse it whole if it is too long, or hand it on with a length."""
        environ = request.environ
        if request.method != "POST" or request.endpoint in OWN_BODY_LIMIT:
            return
        limit = app.config["MAX_CONTENT_LENGTH"]
        if environ.get("CONTENT_LENGTH"):
            # Declared too long: refused before any view, since a view that never reads its body would act on it.
            if (request.content_length or 0) > limit:
                raise RequestEntityTooLarge()
            return
        data = environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge()
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        environ.pop("HTTP_TRANSFER_ENCODING", None)

    @app.before_request
    def _require_credentials() -> Response | None:
        if request.path.startswith(API_PREFIXES) and not authenticated():
            return error_response(
                BridgeError(20003, "Authenticate", 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        return None

    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    app.register_blueprint(twilio_webhooks.blueprint)
    admin_faces.init_app(app, settings)  # console and JSON API: session, CSRF, sign-in rate limit
    app.register_blueprint(openapi.blueprint)  # /openapi.json
    app.register_blueprint(metrics.blueprint)  # /metrics, behind BRIDGE_METRICS_TOKEN
    return app

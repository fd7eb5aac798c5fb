"""The HTTP edge: REST API, carrier webhooks and pages. It validates, stores and enqueues; nothing slower."""

from __future__ import annotations

import io
import re
import uuid

from flask import Flask, Response, g, request
from sentry_sdk.integrations.flask import FlaskIntegration
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge import accounts, carrier_numbers, errortracking, logcontext, logsetup
from bridge.chat import wakeups
from bridge.config import Settings
from bridge.db import Database
from bridge.errors import BridgeError
from webhooks import admin as admin_faces
from webhooks import errors, health, metrics, openapi
from webhooks.api import blueprints
from webhooks.auth import authenticated
from webhooks.carriers import twilio as twilio_webhooks
from webhooks.errors import error_response
from webhooks.webchat import blueprint as webchat

API_PREFIXES = ("/v1/", "/messaging/v1/")
# An incoming X-Request-Id (a proxy's, a client's) is kept when it is this plain; anything else gets a new one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
# Routes that read (and bound) their own request bodies: media uploads go up to BRIDGE_MEDIA_MAX_BYTES.
OWN_BODY_LIMIT = frozenset({"media.create_media", "mcs.create_media"})


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    # Text or JSON lines, with the request's id and SIDs, numbers and bodies masked (bridge/logsetup.py).
    logsetup.configure_root(settings.log_level, settings.log_format)
    errortracking.init(settings.sentry_dsn, [FlaskIntegration()])
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["bridge.settings"] = settings
    from workers import celery_app
    from workers.dispatch import enqueue

    celery_app.configure(celery_app.app, settings)
    database = database or Database(settings.database_url, dispatcher=enqueue)
    if database.announcer is None:
        database.announcer = wakeups.announcer(settings.redis_url)
    database.proxy_rule = carrier_numbers.proxy_rule(settings.carrier)  # which proxy addresses participants may name
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
    def _bind_log_context() -> None:
        """Every log line of this request carries its id, and the SIDs its path names."""
        offered = request.headers.get("X-Request-Id", "")
        g.request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        g.log_tokens = logcontext.bind(
            request_id=g.request_id, **logcontext.fields_for_sids(list((request.view_args or {}).values()))
        )

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def _unbind_log_context(_error: BaseException | None) -> None:
        tokens = g.pop("log_tokens", None)
        if tokens is not None:
            logcontext.unbind(tokens)

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
    app.register_blueprint(webchat)  # /chat: the web chat page, on the SDK's browser bundle
    app.register_blueprint(openapi.blueprint)  # /openapi.json
    app.register_blueprint(health.blueprint)  # /healthz, /readyz: for load balancers, no credentials
    app.register_blueprint(metrics.blueprint)  # /metrics, behind BRIDGE_METRICS_TOKEN
    return app

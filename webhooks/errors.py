"""Every error leaves as Twilio's JSON (`code`, `message`, `more_info`, `status`), never as an HTML page."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from bridge import errors
from bridge.errors import BridgeError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: errors.INVALID_PARAMETER,
    401: errors.AUTHENTICATE,
    404: errors.NOT_FOUND,
    405: errors.METHOD_NOT_ALLOWED,
    413: errors.INVALID_PARAMETER,
    415: errors.INVALID_PARAMETER,
    429: errors.TOO_MANY_REQUESTS,
}


def error_response(error: BridgeError, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error.as_dict())
    response.status_code = error.status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register(app: Flask) -> None:
    @app.errorhandler(BridgeError)
    def _bridge_error(error: BridgeError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 404:
            message = "The requested resource was not found"
        elif status == 413:
            # This route's limit (webhooks set a lower one), falling back to the app's.
            message = f"Request body exceeds the {request.max_content_length}-byte limit"
        else:
            message = error.description or error.name
        body = BridgeError(HTTP_CODES.get(status, status), message, status)
        # Keep the exception's own headers (Allow on 405, WWW-Authenticate on 401).
        response = error.get_response()
        response.set_data(jsonify(body.as_dict()).get_data())
        response.mimetype = "application/json"
        return response

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Response:
        # The database went away (a restart, a failover): retryable, and nothing was stored.
        log.warning("database unavailable: %s", type(error.orig).__name__ if error.orig else error)
        body = BridgeError(errors.SERVICE_UNAVAILABLE, "Temporarily unavailable; retry shortly", 503)
        response = error_response(body)
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        reference = uuid.uuid4().hex[:12]
        log.exception("unhandled error (reference %s)", reference)
        body = BridgeError(errors.INTERNAL_ERROR, f"Internal server error (reference {reference})", 500)
        return error_response(body)

"""The ceiling of this stack on this machine: Flask under the bridge's gunicorn config, answering the same signed
form POST as `/webhooks/twilio/inbound` with the same empty TwiML, and doing nothing else (no signature check,
no database, no broker).

    gunicorn --config python:webhooks.gunicorn_config 'bench.bare_app:create_app()'
"""

from __future__ import annotations

from flask import Flask, Response, request

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks/twilio/inbound")
    def inbound() -> Response:
        request.form.get("MessageSid")  # parse the body, as the bridge must
        return Response(EMPTY_TWIML, status=200, mimetype="text/xml")

    return app

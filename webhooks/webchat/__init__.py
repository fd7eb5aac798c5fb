"""The web chat page (`/chat`): people chat through the bridge in a browser, on the official
`@twilio/conversations` SDK's browser bundle, with no front end of their own.

The page signs in with an access token only (from the URL fragment `#token=...`, or pasted), never with account
credentials; it dials the chat socket at `settings.public_gateway_url`. The SDK bundle is fetched from npm at
setup (`bridge webchat fetch-sdk`) into `static/vendor/`, not committed: without it the page answers 503 and
says how to install it. `policy` builds the page's Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, render_template

from bridge.config import Settings
from webhooks.webchat.policy import content_security_policy

blueprint = Blueprint(
    "webchat",
    __name__,
    url_prefix="/chat",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"  # where `bridge webchat fetch-sdk` puts it
SDK_FILE = VENDOR_DIR / "twilio-conversations.min.js"
FETCH_SDK_COMMAND = ".venv/bin/bridge webchat fetch-sdk"
# The token arrives in the fragment, which browsers never send; still, no page or referrer should leak it.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _settings() -> Settings:
    return current_app.extensions["bridge.settings"]


@blueprint.get("", strict_slashes=False)
def chat_page() -> Response:
    settings = _settings()
    if not SDK_FILE.is_file():
        body = render_template("webchat/unavailable.html", command=FETCH_SDK_COMMAND, path=SDK_FILE.name)
        response = Response(body, status=503, mimetype="text/html")
    else:
        config = {"gatewayUrl": settings.public_gateway_url}
        response = Response(render_template("webchat/chat.html", config=config), mimetype="text/html")
    response.headers["Content-Security-Policy"] = content_security_policy(settings)
    response.headers.update(PAGE_HEADERS)
    return response

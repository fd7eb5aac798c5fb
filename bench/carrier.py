"""The benchmarks' fake carrier: one asynchronous aiohttp server (its own process, a large listen backlog) that

- speaks Twilio's Messages API (`POST /2010-04-01/Accounts/{AC}/Messages.json`, Basic auth, 201 with an `SM...`
  sid), and optionally posts signed `sent`/`delivered` status callbacks back to each send's StatusCallback;
- serves Kannel's send-url (`GET /send?from=..&to=..&text=..`, answering `ok`);
- serves Kannel's router (`GET /route?from=..&to=..&text=..`): the reply text with `X-Kannel-To` naming the other
  participant of the pair, the stand-in for the bridge's binding lookup (here an in-memory dict);
- receives Conversations post-event webhooks (`POST /hooks`, the application's backend), recording each one's lag:
  its arrival (wall clock) minus the `DateCreated` (or `DateUpdated`) it carries, the moment of the change.

Every send is recorded with its receive time (CLOCK_MONOTONIC, which is system-wide on Linux, so it compares with
the load generator's send times) and the tag the load generator put in the body (`bench <run>-<seq>`). The
orchestrator reads the ledger over a small control API under `/_bench/`.

    python -m bench.carrier --port 18080 --account-sid AC... --auth-token ... [--status-callbacks]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from twilio.request_validator import RequestValidator

TAG = re.compile(r"bench ([0-9a-z]{6})-(\d+)")


def body_tag(run_id: str, sequence: int) -> str:
    """The text the load generator embeds in each inbound message and the carrier looks for in each send."""
    return f"bench {run_id}-{sequence:06d}"


@dataclass
class Ledger:
    """What the carrier received, per benchmark run id."""

    sends: dict[str, list[tuple[int, str, float]]] = field(default_factory=lambda: defaultdict(list))
    distinct: dict[str, set[tuple[int, str]]] = field(default_factory=lambda: defaultdict(set))
    untagged: int = 0
    unauthorized: int = 0
    routed: int = 0
    unroutable: int = 0
    callbacks_posted: int = 0
    callbacks_failed: int = 0
    hooks: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # event type -> lags (s)

    def record(self, body: str, to_address: str, received_at: float) -> None:
        found = TAG.search(body)
        if found is None:
            self.untagged += 1
            return
        run_id, sequence = found.group(1), int(found.group(2))
        self.sends[run_id].append((sequence, to_address, received_at))
        self.distinct[run_id].add((sequence, to_address))


class FakeCarrier:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        status_callbacks: bool,
        callback_delay: float,
        send_latency: float = 0.0,
    ) -> None:
        self.account_sid = account_sid
        self.send_latency = send_latency
        self.expected_authorization = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.validator = RequestValidator(auth_token)
        self.status_callbacks = status_callbacks
        self.callback_delay = callback_delay
        self.ledger = Ledger()
        self.routes: dict[tuple[str, str], str] = {}  # (proxy address, sender) -> the other participant
        self.background: set[asyncio.Task[None]] = set()
        self.http: ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"/2010-04-01/Accounts/{self.account_sid}/Messages.json", self.twilio_send)
        app.router.add_get("/send", self.kannel_send)
        app.router.add_get("/route", self.kannel_route)
        app.router.add_post("/hooks", self.conversations_webhook)
        app.router.add_post("/_bench/reset", self.reset)
        app.router.add_post("/_bench/routes", self.set_routes)
        app.router.add_get("/_bench/progress", self.progress)
        app.router.add_get("/_bench/records", self.records)
        app.on_startup.append(self._open_http)
        app.on_cleanup.append(self._close_http)
        return app

    async def _open_http(self, _app: web.Application) -> None:
        # Status callbacks go to gunicorn; bound the connections so a slow bridge is not flooded by its carrier.
        self.http = ClientSession(connector=TCPConnector(limit=32), timeout=ClientTimeout(total=30))

    async def _close_http(self, _app: web.Application) -> None:
        for task in list(self.background):
            task.cancel()
        if self.http is not None:
            await self.http.close()

    # -- Twilio --------------------------------------------------------------------------------------------

    async def twilio_send(self, request: web.Request) -> web.Response:
        received_at = time.monotonic()
        if request.headers.get("Authorization") != self.expected_authorization:
            self.ledger.unauthorized += 1
            return _twilio_error(401, 20003, "Authenticate")
        form = await request.post()
        to_address, from_address = str(form.get("To", "")), str(form.get("From", ""))
        body = str(form.get("Body", ""))
        self.ledger.record(body, to_address, received_at)
        sid = "SM" + uuid.uuid4().hex
        callback = form.get("StatusCallback")
        if self.status_callbacks and callback:
            task = asyncio.create_task(self._post_callbacks(str(callback), sid, from_address, to_address))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        if self.send_latency:  # a real carrier's API takes its time to answer (Twilio's: about 0.1-0.3 s)
            await asyncio.sleep(self.send_latency)
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "from": from_address,
            "to": to_address,
            "body": body,
            "status": "queued",
            "direction": "outbound-api",
            "num_media": "0",
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return web.json_response(resource, status=201)

    async def _post_callbacks(self, url: str, sid: str, from_address: str, to_address: str) -> None:
        assert self.http is not None
        for status in ("sent", "delivered"):
            await asyncio.sleep(self.callback_delay)
            params = {
                "AccountSid": self.account_sid,
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "From": from_address,
                "To": to_address,
                "ApiVersion": "2010-04-01",
            }
            headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params)}
            try:
                async with self.http.post(url, data=params, headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
            except (TimeoutError, OSError, asyncio.CancelledError):
                ok = False
            if ok:
                self.ledger.callbacks_posted += 1
            else:
                self.ledger.callbacks_failed += 1

    # -- Kannel ----------------------------------------------------------------------------------------------

    async def kannel_send(self, request: web.Request) -> web.Response:
        received_at = time.monotonic()
        query = request.query
        self.ledger.record(query.get("text", ""), query.get("to", ""), received_at)
        return web.Response(text="ok: accepted")  # matched by status-success-regex

    async def kannel_route(self, request: web.Request) -> web.Response:
        query = request.query
        sender, proxy = query.get("from", ""), query.get("to", "")
        other = self.routes.get((proxy, sender))
        if other is None:
            self.ledger.unroutable += 1
            return web.Response(text="")  # empty answer + omit-empty: no reply at all
        self.ledger.routed += 1
        return web.Response(
            text=query.get("text", ""),
            headers={"X-Kannel-To": other, "X-Kannel-From": proxy},
        )

    # -- control ---------------------------------------------------------------------------------------------

    # -- the application's backend --------------------------------------------------------------------------

    async def conversations_webhook(self, request: web.Request) -> web.Response:
        arrived = time.time()
        form = await request.post()
        moment = form.get("DateUpdated") or form.get("DateCreated")
        if isinstance(moment, str) and moment.endswith("Z"):
            changed = datetime.fromisoformat(moment[:-1]).replace(tzinfo=UTC).timestamp()
            self.ledger.hooks[str(form.get("EventType", ""))].append(arrived - changed)
        return web.Response(text="")

    async def reset(self, _request: web.Request) -> web.Response:
        self.ledger = Ledger()
        return web.json_response({"ok": True})

    async def set_routes(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.routes = {(proxy, sender): other for proxy, sender, other in payload["routes"]}
        return web.json_response({"routes": len(self.routes)})

    async def progress(self, request: web.Request) -> web.Response:
        run_id = request.query.get("run", "")
        return web.json_response(
            {"distinct": len(self.ledger.distinct.get(run_id, ())), "total": len(self.ledger.sends.get(run_id, ()))}
        )

    async def records(self, request: web.Request) -> web.Response:
        run_id = request.query.get("run", "")
        ledger = self.ledger
        payload: dict[str, Any] = {
            "sends": ledger.sends.get(run_id, []),
            "untagged": ledger.untagged,
            "unauthorized": ledger.unauthorized,
            "routed": ledger.routed,
            "unroutable": ledger.unroutable,
            "callbacks_posted": ledger.callbacks_posted,
            "callbacks_failed": ledger.callbacks_failed,
            "hooks": ledger.hooks,
        }
        return web.Response(text=json.dumps(payload), content_type="application/json")


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--status-callbacks", action="store_true", help="post signed sent/delivered callbacks")
    parser.add_argument("--callback-delay", type=float, default=0.05, help="seconds before each callback")
    parser.add_argument("--send-latency", type=float, default=0.0, help="seconds before answering each send")
    args = parser.parse_args()
    carrier = FakeCarrier(
        args.account_sid, args.auth_token, args.status_callbacks, args.callback_delay, args.send_latency
    )
    # Loopback only; a large backlog so bursts queue in the kernel instead of being refused (peers.md section 2.1).
    web.run_app(carrier.app(), host="127.0.0.1", port=args.port, backlog=4096, access_log=None, print=None)


if __name__ == "__main__":
    main()

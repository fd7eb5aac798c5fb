"""At INFO, the bridge's logs carry no phone number and no message body.

A realistic flow runs on the live bridge with the log level at INFO: REST calls that create participants and send,
inbound webhooks (routed, duplicated, unrouted, malformed), deliveries through the Celery worker to the fake carrier
(one refused with Twilio's 21211, whose message echoes the number), status callbacks, an admin signing in (once
wrongly) and searching by number, and a `ParticipantConversations?Address=` query. Everything that reaches the
root logger's handlers is captured: the bridge's loggers, werkzeug's request lines, Celery's task lines and
twilio's. The web app factory puts the mask (bridge/logmask.py) on those handlers; gunicorn's logger and Celery's
setup get it too (checked separately), and a database error no longer carries the statement's values.

Two captures: one behind the mask, which must hold no number or body at all, and one in front of it, where the
bridge's own log lines must hold none either (the mask is a safety net, not the way the bridge avoids logging them)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from bridge import logmask
from bridge.models import Delivery, UnroutedMessage
from tests.integration.conftest import Api, settle
from tests.integration.test_admin_api import Console, admin_credentials
from tests.support.fake_carrier import Failure, FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

# E.164, as written (+1415...), URL-encoded (%2B1415...) or after `whatsapp:`.
PHONE_NUMBER = re.compile(r"(?:\+|%2B)\d{7,15}", re.IGNORECASE)
ALICE, BOB, CAROL, DAVE = "+14155550123", "+14155550124", "+14155550125", "+14155550126"
BODIES = {
    "rest": "Your prescription is ready at the Elm Street pharmacy",
    "inbound": "Can I pick it up after 6pm? My date of birth is 1984-03-02",
    "unrouted": "Wrong number? I was told to text this about my test results",
}
BRIDGE_LOGGERS = ("bridge", "webhooks", "workers")


class Capture(logging.Handler):
    """Keeps (logger name, formatted line) of every record it is handed, exception text included."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, self.format(record)))


def leaks(lines: list[tuple[str, str]]) -> list[str]:
    return [
        f"{name}: {line[:300]}"
        for name, line in lines
        if PHONE_NUMBER.search(line) or any(body in line for body in BODIES.values())
    ]


@pytest.fixture
def captured(live: LiveBridge) -> Iterator[tuple[Capture, Capture]]:
    """(in front of the mask, behind it), on the root logger at INFO, as the bridge runs with LOG_LEVEL=INFO."""
    from webhooks import create_app
    from workers import celery_app

    root = logging.getLogger()
    level = root.level
    masked, raw = Capture(), Capture()
    root.addHandler(masked)
    # The session's worker started at WARNING, and Celery decides once per task tracer whether to log at INFO:
    # drop the tracers, so that they are rebuilt (on next use) at INFO and Celery's task lines are captured too.
    tasks = [task for name, task in celery_app.app.tasks.items() if name.startswith("bridge.")]
    try:
        create_app(live.settings, database=live.database)  # the factory masks the root handlers it finds
        assert logmask.installed_on(masked)
        root.handlers.insert(0, raw)  # first in line and unmasked: it sees each record as it was logged
        root.setLevel(logging.INFO)
        for task in tasks:
            task.__trace__ = None
        yield raw, masked
    finally:
        root.setLevel(level)
        for task in tasks:
            task.__trace__ = None
        for handler in (raw, masked):
            root.removeHandler(handler)
        celery_app.configure(celery_app.app, live.settings)


def test_info_logs_carry_no_phone_number_and_no_message_body(
    live: LiveBridge,
    api: Api,
    sender_pool: dict[str, str],
    worker: FakeCarrier,
    captured: tuple[Capture, Capture],
) -> None:
    raw, masked = captured
    proxy = sender_pool["sms"]
    worker.failures_by_number[CAROL] = Failure(400, 21211, f"The 'To' number {CAROL} is not a valid phone number.")
    conversation = api.post("/v1/Conversations", {"FriendlyName": "Pharmacy"}).json()["sid"]
    participants = f"/v1/Conversations/{conversation}/Participants"
    for number in (ALICE, BOB, CAROL):
        binding = {"MessagingBinding.Address": number, "MessagingBinding.ProxyAddress": proxy}
        assert api.post(participants, binding).status_code == 201
    assert api.post(participants, {"Identity": "pharmacist"}).status_code == 201

    # A message written through the API, and one texted in (and retried by the carrier), both to everyone.
    sent = api.post(f"/v1/Conversations/{conversation}/Messages", {"Author": "pharmacist", "Body": BODIES["rest"]})
    assert sent.status_code == 201
    inbound = worker.inbound_params(ALICE, proxy, BODIES["inbound"])
    assert worker.post_inbound(live.url, inbound).status_code == 200
    assert worker.post_inbound(live.url, inbound).status_code == 200
    # Someone no conversation knows, and a malformed sender.
    assert worker.post_inbound(live.url, worker.inbound_params(DAVE, proxy, BODIES["unrouted"])).status_code == 200
    malformed = worker.inbound_params("+1415555012x", proxy, BODIES["inbound"])
    assert worker.post_inbound(live.url, malformed).status_code == 400

    # Deliveries: the worker sends, the carrier refuses Carol (21211) and calls back for the others.
    eventually(lambda: len(worker.sent_to(BOB)) == 2 and len(worker.sent_to(ALICE)) == 1, timeout=30)
    settle(live)
    with live.database.transaction() as session:
        assert session.query(Delivery).filter(Delivery.status == "failed").count() == 2  # Carol, twice
    assert worker.post_status(worker.sent_to(BOB)[0], "read") == 200  # one more status callback, by hand

    # Lookups by number: the REST API's filter and address path, the admin's filters and search.
    assert api.get("/v1/ParticipantConversations", params={"Address": ALICE}).status_code == 200
    assert api.get(f"/v1/Configuration/Addresses/{proxy}").status_code == 404
    admin = Console(live)
    assert admin.sign_in(admin_credentials(live)[0], "not the password").status_code == 401
    assert admin.sign_in(*admin_credentials(live)).status_code == 302
    assert admin.get("/admin/deliveries", params={"address": CAROL, "status": "failed"}).status_code == 200
    assert admin.get("/admin/find", params={"q": BOB}).status_code in (200, 302)
    by_number = requests.get(
        live.url + "/admin/api/deliveries", params={"address": CAROL}, auth=admin_credentials(live), timeout=30
    )
    assert by_number.status_code == 200 and by_number.json()["deliveries"][0]["address"] == CAROL  # admins see it
    settle(live)

    assert leaks(masked.lines) == []
    own = [(name, line) for name, line in raw.lines if name.split(".")[0] in BRIDGE_LOGGERS]
    assert leaks(own) == []

    # The capture saw the flow: the bridge's, werkzeug's and Celery's lines, and numbers the mask had to hide.
    names = {name.split(".")[0] for name, _ in raw.lines}
    assert {"webhooks", "workers", "werkzeug", "celery"} <= names, names
    assert any("ParticipantConversations?Address=%2B14155550123" in line for _, line in raw.lines)
    assert any("ParticipantConversations?Address=%2B1415***0123" in line for _, line in masked.lines)
    assert len(own) >= 5
    print(f"\nlogs: {len(masked.lines)} lines at INFO, {len(own)} of them the bridge's; {len(leaks(raw.lines))} masked")


def test_the_celery_app_masks_the_handlers_it_sets_up() -> None:
    """A worker or beat process configures logging through Celery; its signals put the mask on those handlers."""
    from workers.celery_app import app

    root = logging.getLogger()
    level, already = root.level, type(app.log)._setup
    handler = Capture()
    root.addHandler(handler)
    try:
        type(app.log)._setup = False
        app.log.setup(loglevel="INFO")  # what `celery worker` and `celery beat` run at start
        assert logmask.installed_on(handler)
        task_handlers = logging.getLogger("celery.task").handlers
        assert task_handlers and all(logmask.installed_on(h) for h in task_handlers)
        logging.getLogger("celery.app.trace").info("Task %s succeeded: %r", "bridge.x", {"To": ALICE, "Body": "hi"})
    finally:
        type(app.log)._setup = already
        root.setLevel(level)
        root.removeHandler(handler)
    masked = "INFO celery.app.trace: Task bridge.x succeeded: {'To': '+1415***0123', 'Body': '***'}"
    assert handler.lines == [("celery.app.trace", masked)]


def test_gunicorns_access_and_error_logs_are_masked(tmp_path: Path) -> None:
    """The web process's own request lines: the path alone can hold a number, and an error line prints the URI."""
    from gunicorn.config import Config

    from webhooks import gunicorn_config

    config = Config()
    for name in ("access_log_format", "logger_class"):
        config.set(name, getattr(gunicorn_config, name))
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    config.set("accesslog", str(access))
    config.set("errorlog", str(errors))
    logger = config.logger_class(config)
    try:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": f"/v1/Configuration/Addresses/{ALICE}",
            "QUERY_STRING": "Address=%2B14155550124",
            "RAW_URI": "/v1/Configuration/Addresses/%2B14155550123?Address=%2B14155550124",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
        }
        response = SimpleNamespace(status="200 OK", sent=12, headers=[])
        logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
        logger.error("Error handling request %s", environ["RAW_URI"])
    finally:
        for log in (logger.error_log, logger.access_log):
            for handler in list(log.handlers):
                handler.close()
                log.removeHandler(handler)
    written = access.read_text() + errors.read_text()
    assert "/v1/Configuration/Addresses/+1415***0123" in access.read_text()
    assert "%2B1415***0124" in errors.read_text()
    assert PHONE_NUMBER.findall(written) == []


def test_a_database_error_does_not_carry_the_statements_values(live: LiveBridge) -> None:
    """An unexpected database error is logged with its text (webhooks/errors.py, workers/deliver.py): the engine
    hides the statement's parameters, and PostgreSQL's "Failing row contains (...)" detail is masked."""
    body = f"clinic at 5, {ALICE}"  # short: PostgreSQL cuts long values in its "Failing row" detail
    row = {"carrier": "twilio", "carrier_message_sid": "SMdup", "from_address": DAVE, "to_address": BOB, "body": body}
    with live.database.transaction() as session:
        session.execute(insert(UnroutedMessage).values(**row))
    with pytest.raises(IntegrityError) as duplicate, live.database.transaction() as session:
        session.execute(insert(UnroutedMessage).values(**row))
    assert "parameters hidden" in str(duplicate.value)
    assert body not in str(duplicate.value) and DAVE not in str(duplicate.value)

    handler = Capture()
    handler.addFilter(logmask.MaskingFilter())
    log = logging.getLogger("webhooks.errors")
    log.addHandler(handler)
    not_null = {**row, "carrier_message_sid": "SMnew", "from_address": None}  # PostgreSQL prints the failing row
    try:
        with live.database.transaction() as session:
            session.execute(insert(UnroutedMessage).values(**not_null))
    except IntegrityError:
        log.exception("unhandled error (reference %s)", "test")
    finally:
        log.removeHandler(handler)
    assert len(handler.lines) == 1 and "IntegrityError" in handler.lines[0][1]
    assert leaks(handler.lines) == [] and "clinic" not in handler.lines[0][1]

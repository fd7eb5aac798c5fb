"""Reads the carrier account's numbers and messaging services into the bridge (bridge/carrier_numbers.py): once
when a worker starts, then on beat's schedule (BRIDGE_CARRIER_SYNC_SECONDS), and on demand with
`bridge senders sync`. Never from a web request: the web edge does not talk to the carrier while a client waits.

Only a carrier with an account is read: the simulator has none (any number is its own), and with no carrier a
worker does not start at all.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_ready

from bridge import carrier_numbers
from bridge.carriers import Carrier, CarrierError
from bridge.config import TWILIO, Settings
from bridge.db import Database
from workers.celery_app import app
from workers.context import context

log = logging.getLogger(__name__)
SYNC_TASK = "bridge.sync_carrier_numbers"


def has_account(settings: Settings) -> bool:
    return settings.carrier == TWILIO


def run_sync(database: Database, carrier: Carrier) -> carrier_numbers.SyncReport:
    """The account read first, outside the transaction (no row is locked while the carrier answers), then
    written in one transaction. Raises CarrierError when the carrier cannot be read: nothing is changed then."""
    inventory = carrier.inventory()
    with database.transaction() as session:
        return carrier_numbers.sync(session, inventory)


@app.task(name=SYNC_TASK, acks_late=True, reject_on_worker_lost=True)
def sync_carrier_numbers() -> None:
    ctx = context()
    if not has_account(ctx.settings):
        return
    try:
        report = run_sync(ctx.database, ctx.carrier)
    except CarrierError as error:  # the next scheduled sync tries again; the last copy stays in force
        log.warning("could not read the carrier account's numbers: %s (%s)", error.message, error.code)
        return
    for line in report.lines():
        log.info("carrier sync: %s", line)


@worker_ready.connect(dispatch_uid="bridge.carrier_sync_at_start")
def _sync_at_start(**_kwargs: Any) -> None:
    """A worker that starts asks for a sync (through the queue, so whichever worker is free runs it), so numbers
    bought since the last one are valid proxy addresses without waiting for the schedule."""
    if has_account(app.conf.bridge_settings):
        try:
            sync_carrier_numbers.delay()
        except Exception:  # the broker is not there yet: beat's schedule will run it
            log.warning("could not ask for a carrier sync at start; the schedule will run one")

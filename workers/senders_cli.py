"""`bridge senders sync`: reads the carrier account's numbers and messaging services now, and prints what changed."""

from __future__ import annotations

import click

from bridge.carriers import CarrierError, build_carrier, sends_nowhere
from bridge.config import ConfigurationError, Settings
from bridge.db import Database
from workers.carrier_sync import has_account, run_sync


@click.group()
def senders() -> None:
    """The numbers the bridge sends from: the carrier account's, and the senders of each Messaging Service."""


@senders.command("sync")
def sync() -> None:
    """Reads the carrier account's phone numbers, WhatsApp senders and Messaging Services (as the worker does at
    start and every BRIDGE_CARRIER_SYNC_SECONDS) and prints what changed."""
    settings = Settings.from_env()
    if not has_account(settings):
        if sends_nowhere(settings):
            click.echo("the carrier simulator has no account to read: any number is accepted as a proxy address")
            return
        raise click.ClickException("no carrier account: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    try:
        carrier = build_carrier(settings)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
    database = Database(settings.database_url)
    try:
        report = run_sync(database, carrier)
    except CarrierError as error:
        raise click.ClickException(f"could not read the carrier account: {error.message} ({error.code})") from None
    finally:
        database.dispose()
    for line in report.lines():
        click.echo(line)

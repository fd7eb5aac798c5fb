"""`bridge`, the command line: run, web, worker, beat, migrate, keys, token, simulate, senders, deliveries, webhooks,
unrouted.
The Procfile runs the same commands. It lives with the workers because it operates the delivery machinery
(replays enqueue deliveries); the domain package `bridge` stays free of Celery.

`bridge run` is the one-command start: migrations, then web + worker + beat as child processes on the
embedded default (SQLite and an embedded Redis) or on the servers the environment names. Ctrl-C stops all.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import requests
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from bridge import access_tokens, accounts, metrics_dir, services
from bridge.carriers import carrier_account_sid, carrier_auth_token, carrier_problem
from bridge.config import Settings
from bridge.db import Database
from bridge.embedded import socket_url, start_embedded_redis
from bridge.errors import BridgeError
from bridge.migrate import upgrade
from bridge.supervisor import Supervisor
from workers import admin_cli, senders_cli, webchat_sdk
from workers.queues import HOOKS_QUEUE

# Webhook calls mostly wait on receivers: more threads than a delivery worker's, each idle most of the time.
HOOKS_CONCURRENCY = 16


def web_command(bind: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--config", "python:webhooks.gunicorn_config"]
    if bind:
        command += ["--bind", bind]
    return [*command, "webhooks:create_app()"]


def worker_command(concurrency: int, name: str | None = None, queue: str | None = None) -> list[str]:
    command = [
        sys.executable, "-m", "celery", "--app", "workers.celery_app", "worker",
        "--pool", "threads", "--concurrency", str(concurrency), "--loglevel", "INFO",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    if queue:
        command += ["--queues", queue]
    return [*command, "--hostname", f"{name}@%h"] if name else command


def gateway_command(bind: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "--bind", bind]


def beat_command(schedule_file: Path) -> list[str]:
    return [
        sys.executable, "-m", "celery", "--app", "workers.celery_app", "beat",
        "--loglevel", "INFO", "--schedule", str(schedule_file),
    ]  # fmt: skip


@contextmanager
def one_transaction(settings: Settings) -> Iterator[Session]:
    """A command's one transaction, on a database opened for it and closed after."""
    database = Database(settings.database_url)
    try:
        with database.transaction() as session:
            yield session
    finally:
        database.dispose()


def migrate_database(settings: Settings) -> None:
    upgrade(settings.database_url)
    with one_transaction(settings) as session:
        accounts.ensure_defaults(session)


@click.group()
def main() -> None:
    """The bridge: a self-hosted, Twilio-Conversations-compatible messaging service."""


@main.command()
def migrate() -> None:
    """Bring the database schema up to date and create the account's defaults."""
    settings = Settings.from_env()
    migrate_database(settings)
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface the web process listens on.")
@click.option("--concurrency", default=4, show_default=True, help="Threads per delivery worker.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    help="Delivery worker processes (a worker is one process: use one per core to use them all).",
)
def run(host: str, concurrency: int, workers: int) -> None:
    """Web + workers + beat together (embedded default when DATABASE_URL / REDIS_URL are unset)."""
    settings = Settings.from_env()
    _require_carrier(settings)
    migrate_database(settings)
    env = dict(os.environ)
    env.setdefault("BRIDGE_INSTANCE_DIR", str(settings.instance_dir))
    env["BRIDGE_ACCOUNT_SID"], env["BRIDGE_AUTH_TOKEN"] = settings.account_sid, settings.auth_token
    # One metrics directory for every child (bridge/metrics_dir.py): the web's /metrics shows the workers too, so
    # the workers serve no endpoint of their own (they would all want the same port).
    metrics_dir.prepare(env, "run")
    env.pop("BRIDGE_METRICS_PORT", None)
    redis_server = None
    if not settings.redis_url:
        redis_server = start_embedded_redis(settings.instance_dir)
        env["REDIS_URL"] = socket_url(redis_server)
    _announce(settings, redis_server is not None, host)
    commands = {
        "web": web_command(f"{host}:{settings.port}"),
        **{f"worker{n}": worker_command(concurrency, f"worker{n}") for n in range(max(1, workers))},
        "hooks": worker_command(HOOKS_CONCURRENCY, "hooks", HOOKS_QUEUE),
        "gateway": gateway_command(f"{host}:{settings.gateway_port}"),
        "beat": beat_command(settings.instance_dir / "celerybeat-schedule"),
    }
    sys.exit(Supervisor(commands, env, say=lambda line: click.echo(line, err=True)).run())


def _announce(settings: Settings, embedded_redis: bool, host: str) -> None:
    database = "SQLite " + settings.database_url.split("///", 1)[-1] if settings.database_is_sqlite else "PostgreSQL"
    click.echo(f"bridge listening on {settings.public_base_url}")
    click.echo(f"  database: {database}")
    click.echo(f"  broker:   {'embedded Redis in ' + str(settings.instance_dir) if embedded_redis else 'REDIS_URL'}")
    click.echo(f"  account SID: {settings.account_sid}")
    if not os.environ.get("BRIDGE_AUTH_TOKEN"):
        click.echo(f"  auth token:  {settings.auth_token}")
    click.echo(f"  try: curl -u {settings.account_sid}:<auth token> {settings.public_base_url}/v1/Services")
    click.echo(f"  admin console: {settings.public_base_url}/admin  (user {settings.admin_username})")
    click.echo(f"  chat gateway (Conversations SDK's twilsock.uri): ws://{host}:{settings.gateway_port}/v3/wsconnect")
    click.echo(f"  web chat: {settings.public_base_url}/chat  (open it as an identity from the console's Web chat)")
    if not os.environ.get("BRIDGE_ADMIN_PASSWORD"):
        click.echo(f"  admin password: {settings.admin_password}")


@main.command()
@click.option("--bind", default=None, help="host:port (default 0.0.0.0:$PORT).")
def web(bind: str | None) -> None:
    """The web process (gunicorn), as the Procfile runs it."""
    os.execv(sys.executable, web_command(bind))


@main.command()
@click.option("--concurrency", default=8, show_default=True)
def worker(concurrency: int) -> None:
    """A delivery worker (Celery), as the Procfile runs it."""
    _require_carrier(Settings.from_env())
    os.execv(sys.executable, worker_command(concurrency))


def _require_carrier(settings: Settings) -> None:
    """Said before anything starts; the worker itself checks again (workers/celery_app.py)."""
    problem = carrier_problem(settings)
    if problem:
        raise click.ClickException(problem)


@main.command()
@click.option("--concurrency", default=HOOKS_CONCURRENCY, show_default=True)
def hooks(concurrency: int) -> None:
    """The webhook worker (Celery, queue `hooks`): Conversations webhooks to the application's backend."""
    os.execv(sys.executable, worker_command(concurrency, queue=HOOKS_QUEUE))


@main.command()
@click.option("--bind", default=None, help="host:port (default 0.0.0.0:$PORT).")
def gateway(bind: str | None) -> None:
    """The chat gateway (twilsock over WebSocket on /v3/wsconnect) for Twilio's Conversations SDK."""
    os.execv(sys.executable, gateway_command(bind) if bind else [sys.executable, "-m", "gateway"])


@main.command()
def beat() -> None:
    """The scheduler (Celery beat): sweeps and timers. Run exactly one."""
    settings = Settings.from_env()
    os.execv(sys.executable, beat_command(settings.instance_dir / "celerybeat-schedule"))


@main.group()
def simulate() -> None:
    """Play the carrier: post correctly signed webhooks to a running bridge."""


@simulate.command("inbound")
@click.option("--from", "from_address", required=True, help="The person's number, e.g. +14155550123 or whatsapp:+1...")
@click.option("--to", "to_address", required=True, help="The bridge's sender number they wrote to.")
@click.option("--body", required=True)
@click.option("--media-url", multiple=True, help="Media the carrier would report (repeatable).")
@click.option("--url", default=None, help="The bridge's public URL (default: PUBLIC_BASE_URL).")
def simulate_inbound(
    from_address: str, to_address: str, body: str, media_url: tuple[str, ...], url: str | None
) -> None:
    """An inbound SMS/WhatsApp message, as Twilio would post it, signed with the carrier's auth token."""
    settings = Settings.from_env()
    sid = "SM" + uuid.uuid4().hex
    params = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": carrier_account_sid(settings),
        "From": from_address,
        "To": to_address,
        "Body": body,
        "NumMedia": str(len(media_url)),
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    for n, media in enumerate(media_url):
        params[f"MediaUrl{n}"] = media
    endpoint = f"{(url or settings.public_base_url).rstrip('/')}/webhooks/twilio/inbound"
    signature = RequestValidator(carrier_auth_token(settings)).compute_signature(endpoint, params)
    try:
        response = requests.post(endpoint, data=params, headers={"X-Twilio-Signature": signature}, timeout=15)
    except requests.RequestException as exc:
        raise click.ClickException(f"could not reach the bridge at {endpoint}: {exc}") from None
    click.echo(f"POST {endpoint} -> {response.status_code} (MessageSid {sid})")
    if response.status_code != 200:
        raise click.ClickException(response.text)


@main.group()
def keys() -> None:
    """API keys: SK... + secret, accepted wherever the account's auth token is."""


@keys.command("create")
@click.option("--friendly-name", default=None)
def keys_create(friendly_name: str | None) -> None:
    with one_transaction(Settings.from_env()) as session:
        key = accounts.create_api_key(session, friendly_name)
    click.echo(f"API key SID: {key.sid}")
    click.echo(f"secret:      {key.secret}   (shown once; store it now)")


@keys.command("revoke")
@click.argument("key_sid")
def keys_revoke(key_sid: str) -> None:
    """Deletes a key: its secret stops authenticating and access tokens it signed are refused (20103)."""
    with one_transaction(Settings.from_env()) as session:
        found = accounts.revoke_api_key(session, key_sid)
    if not found:
        raise click.ClickException(f"no API key {key_sid}")
    click.echo(f"revoked {key_sid}")


@main.command()
@click.option("--identity", required=True, help="The chat user the token speaks for.")
@click.option("--service", "service_sid", default=None, help="IS...: the Conversation Service (default: the default).")
@click.option("--ttl", default=access_tokens.DEFAULT_TTL_SECONDS, show_default=True, help="Lifetime in seconds.")
def token(identity: str, service_sid: str | None, ttl: int) -> None:
    """Prints an access token for a chat client, as an application's backend would mint one (for trying things
    out: it signs with a key of its own, `bridge token`, made on first use)."""
    settings = Settings.from_env()
    try:
        with one_transaction(settings) as session:
            accounts.ensure_defaults(session)
            service = services.find_service(session, service_sid) if service_sid else accounts.default_service(session)
            key = accounts.token_key(session)
            key_sid, secret, service_sid = key.sid, key.secret, service.sid
    except BridgeError as error:
        raise click.ClickException(error.message) from error
    except DatabaseError as error:
        raise click.ClickException(
            f"the database is not ready ({type(error).__name__}): run `bridge migrate`"
        ) from error
    click.echo(access_tokens.mint(settings.account_sid, key_sid, secret, identity, service_sid, ttl))


main.add_command(admin_cli.deliveries)
main.add_command(admin_cli.webhooks)
main.add_command(admin_cli.unrouted)
main.add_command(admin_cli.push)
main.add_command(senders_cli.senders)
main.add_command(webchat_sdk.webchat)

if __name__ == "__main__":
    main()

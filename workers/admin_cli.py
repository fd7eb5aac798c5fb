"""`bridge deliveries ...`, `bridge webhooks ...`, `bridge push ...` and `bridge unrouted ...`: the admin
operations from a terminal."""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from bridge import admin
from bridge.config import Settings
from bridge.db import Database
from bridge.errors import BridgeError
from bridge.hooks import admin as hooks_admin
from bridge.paging import PageRequest
from bridge.push import admin as push_admin
from bridge.push import outbox as push_outbox
from bridge.timeutil import iso


@contextmanager
def _database() -> Iterator[Database]:
    from workers.dispatch import enqueue

    database = Database(Settings.from_env().database_url, dispatcher=enqueue)
    try:
        yield database
    finally:
        database.dispose()


def _filters(func: Any) -> Any:
    """The filter options every deliveries command shares."""
    options = [
        click.option("--status", "statuses", multiple=True, default=("failed",), show_default=True,
                     help="Delivery status (repeatable): failed, undelivered, pending, sent, delivered, ..."),
        click.option("--error-code", "error_codes", multiple=True, type=int, help="Carrier error code (repeatable)."),
        click.option("--since", help="Updated since: 2h, 30m, 7d or an ISO-8601 time."),
        click.option("--until", help="Updated before: 2h, 30m, 7d or an ISO-8601 time."),
        click.option("--service", "service_sid", help="Conversation Service SID (IS...)."),
        click.option("--conversation", "conversation_sid", help="Conversation SID (CH...)."),
        click.option("--message", "message_sid", help="Message SID (IM...)."),
        click.option("--address", help="The recipient's address, e.g. +14155550123 or whatsapp:+1..."),
        click.option("--channel", type=click.Choice(["sms", "whatsapp"]), help="The recipient's channel."),
        click.option("--sid", "delivery_sids", multiple=True, help="A delivery SID (DY..., repeatable)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def _filter(**given: Any) -> admin.DeliveryFilter:
    try:
        return admin.DeliveryFilter(
            statuses=tuple(given["statuses"]),
            error_codes=tuple(given["error_codes"]),
            since=admin.parse_moment(given["since"]) if given.get("since") else None,
            until=admin.parse_moment(given["until"]) if given.get("until") else None,
            service_sid=given.get("service_sid"),
            conversation_sid=given.get("conversation_sid"),
            message_sid=given.get("message_sid"),
            address=given.get("address"),
            channel=given.get("channel"),
            delivery_sids=tuple(given["delivery_sids"]),
        )
    except BridgeError as error:
        raise click.UsageError(error.message) from None


@click.group()
def deliveries() -> None:
    """Find, inspect and replay deliveries."""


def _list_options(func: Any) -> Any:
    func = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")(func)
    return click.option("--limit", default=50, show_default=True, help="How many, newest first.")(func)


@deliveries.command("list")
@_filters
@_list_options
def list_deliveries(limit: int, as_json: bool, **given: Any) -> None:
    """Deliveries matching the filters, newest first."""
    filt = _filter(**given)
    with _database() as database, database.transaction() as session:
        total = admin.count_matching(session, filt)
        page = admin.list_deliveries(session, filt, _page(limit))
    _echo_rows(
        page.items,
        total,
        as_json,
        lambda row: (
            f"{row['sid']}  {row['status']:<11} {row['error_code'] or '':>5}  {row['channel'] or '-':<8} "
            f"{row['address'] or '-':<24} {row['date_updated']}  {(row['error_message'] or '')[:60]}"
        ),
    )


def _page(limit: int) -> PageRequest:
    return PageRequest(page_size=max(1, min(limit, 1000)))


def _echo_rows(rows: list[Any], total: int, as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    """One line per row (or one JSON object with --json), then how many of how many matching."""
    for row in rows:
        fields = admin.json_fields(row)
        click.echo(json.dumps(fields) if as_json else line(fields))
    if not as_json:
        click.echo(f"{len(rows)} shown of {total} matching")


def _echo_statuses(by_status: dict[str, int]) -> None:
    click.echo("status        count")
    for status, count in by_status.items():
        click.echo(f"{status:<12} {count:>6}")


@deliveries.command("counts")
@click.option("--since", default="1h", show_default=True)
def counts(since: str) -> None:
    """Deliveries by status, and failures by error code."""
    moment = admin.parse_moment(since)
    with _database() as database, database.transaction() as session:
        by_status = admin.counts_by_status(session, moment)
        by_code = admin.failures_by_error_code(session, moment)
    _echo_statuses(by_status)
    click.echo("\nerror code    count  example")
    for entry in by_code:
        click.echo(f"{entry.error_code:<12} {entry.count:>6}  {(entry.example or '')[:70]}")


def _replay_options(func: Any) -> Any:
    func = click.option("--actor", default=None, help="Who is replaying, for the audit trail (default: cli:<user>).")(
        func
    )
    return click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(func)


@deliveries.command("replay")
@_filters
@_replay_options
def replay(yes: bool, actor: str | None, **given: Any) -> None:
    """Send failed deliveries again. Only failed or undelivered ones move; each goes out once."""
    _replay(admin.DELIVERIES, _filter(**given), yes, actor, "were no longer failed")


def _replay(kind: admin.ReplayKind[Any], filt: Any, yes: bool, actor: str | None, skipped_means: str) -> None:
    """Asks (unless --yes), then replays with a progress bar; the audit trail names `actor` or cli:<user>."""
    who = actor or f"cli:{getpass.getuser()}"
    with _database() as database:
        with database.transaction() as session:
            matched = kind.count(session, filt)
        if matched == 0:
            click.echo("nothing to replay")
            return
        if not yes:
            click.confirm(f"Replay {matched} {kind.noun}?", abort=True)
        started = time.monotonic()
        with click.progressbar(length=matched, label="replaying", show_pos=True) as bar:
            result = admin.replay(
                database.transaction, filt, who, on_batch=lambda moved, missed: bar.update(moved + missed), kind=kind
            )
        elapsed = time.monotonic() - started
    click.echo(
        f"replayed {result.replayed} of {result.matched} in {elapsed:.1f}s"
        + (f"; {result.skipped} {skipped_means}" if result.skipped else "")
    )


# -- webhook calls ---------------------------------------------------------------------------------------------


@contextmanager
def _usage_errors() -> Iterator[None]:
    """A filter the domain refuses is a usage error (exit code 2), not a traceback."""
    try:
        yield
    except BridgeError as error:
        raise click.UsageError(error.message) from None


def _webhook_filters(func: Any) -> Any:
    """The filter options every webhooks command shares."""
    options = [
        click.option("--status", "statuses", multiple=True, default=("failed",), show_default=True,
                     help="Call status (repeatable): failed, pending, sending, delivered."),
        click.option("--event-type", "event_types", multiple=True,
                     help="Event type (repeatable): onMessageAdded, onParticipantAdded, ..."),
        click.option("--target", help="account, service or a conversation-scoped webhook's SID (WH...)."),
        click.option("--url", help="The URL called, exactly."),
        click.option("--since", help="Updated since: 2h, 30m, 7d or an ISO-8601 time."),
        click.option("--until", help="Updated before: 2h, 30m, 7d or an ISO-8601 time."),
        click.option("--service", "service_sid", help="Conversation Service SID (IS...)."),
        click.option("--conversation", "conversation_sid", help="Conversation SID (CH...)."),
        click.option("--sid", "call_sids", multiple=True, help="A webhook call SID (WC..., repeatable)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def _webhook_filter(**given: Any) -> hooks_admin.WebhookCallFilter:
    with _usage_errors():
        return hooks_admin.WebhookCallFilter(
            statuses=tuple(given["statuses"]),
            event_types=tuple(given["event_types"]),
            target=hooks_admin.check_target(given["target"]) if given.get("target") else None,
            url=given.get("url"),
            since=admin.parse_moment(given["since"]) if given.get("since") else None,
            until=admin.parse_moment(given["until"]) if given.get("until") else None,
            service_sid=given.get("service_sid"),
            conversation_sid=given.get("conversation_sid"),
            call_sids=tuple(given["call_sids"]),
        )


@click.group()
def webhooks() -> None:
    """Find, inspect and replay post-event webhook calls."""


@webhooks.command("list")
@_webhook_filters
@_list_options
def list_webhooks(limit: int, as_json: bool, **given: Any) -> None:
    """Webhook calls matching the filters, newest first."""
    filt = _webhook_filter(**given)
    with _usage_errors(), _database() as database, database.transaction() as session:
        total = hooks_admin.count_matching(session, filt)
        page = hooks_admin.list_calls(session, filt, _page(limit))
    _echo_rows(
        page.items,
        total,
        as_json,
        lambda row: (
            f"{row['sid']}  {row['status']:<9} {row['event_type']:<26} {row['target']:<8} {row['attempts']:>2}  "
            f"{row['date_updated']}  {row['url']}  {(row['error'] or '')[:60]}"
        ),
    )


@webhooks.command("counts")
@click.option("--since", default="1h", show_default=True)
def webhook_counts(since: str) -> None:
    """Webhook calls by status, and failures by error."""
    with _usage_errors():
        moment = admin.parse_moment(since)
    with _database() as database, database.transaction() as session:
        by_status = hooks_admin.counts_by_status(session, moment)
        by_error = hooks_admin.failures_by_error(session, moment)
    _echo_statuses(by_status)
    click.echo("\nfailed with          count")
    for entry in by_error:
        click.echo(f"{(entry.error or '-')[:20]:<20} {entry.count:>6}")


@webhooks.command("replay")
@_webhook_filters
@_replay_options
def replay_webhooks(yes: bool, actor: str | None, **given: Any) -> None:
    """Send failed webhook calls again. Only failed ones move; each goes out once, with its own idempotency token."""
    filt = _webhook_filter(**given)
    with _usage_errors():
        replayable = hooks_admin.WEBHOOK_CALLS.narrowed(filt)
    _replay(hooks_admin.WEBHOOK_CALLS, replayable, yes, actor, "were no longer failed")


# -- pushes ---------------------------------------------------------------------------------------------------


def _push_filter(statuses: tuple[str, ...], since: str | None, **given: Any) -> push_admin.PushFilter:
    with _usage_errors():
        return push_admin.PushFilter(
            statuses=statuses,
            service_sid=given.get("service_sid"),
            identity=given.get("identity"),
            conversation_sid=given.get("conversation_sid"),
            since=admin.parse_moment(since) if since else None,
            push_sids=tuple(given.get("push_sids") or ()),
        )


@click.group()
def push() -> None:
    """Find and replay push notifications (FCM, APNs)."""


@push.command("failed")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    default=("failed",),
    show_default=True,
    help="Push status (repeatable): failed, pending, sending, sent, skipped, unregistered.",
)
@click.option("--since", help="Updated since: 2h, 30m, 7d or an ISO-8601 time.")
@click.option("--service", "service_sid", help="Conversation Service SID (IS...).")
@click.option("--identity", help="The user pushed to.")
@click.option("--conversation", "conversation_sid", help="Conversation SID (CH...).")
@_list_options
def failed_pushes(limit: int, as_json: bool, statuses: tuple[str, ...], since: str | None, **given: Any) -> None:
    """Failed pushes (or those of --status), newest first, with what the platform last said."""
    filt = _push_filter(statuses, since, **given)
    with _usage_errors(), _database() as database, database.transaction() as session:
        total = push_admin.count_matching(session, filt)
        page = push_admin.list_pushes(session, filt, _page(limit))
    _echo_rows(
        page.items,
        total,
        as_json,
        lambda row: (
            f"{row['sid']}  {row['status']:<12} {row['identity'][:20]:<20} {row['attempts']:>2}  "
            f"{row['error_code'] or '':>3}  {row['date_updated']}  {(row['error_message'] or '')[:60]}"
        ),
    )


@push.command("replay")
@click.argument("push_sids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Every failed push (instead of the SIDs given).")
@_replay_options
def replay_pushes(push_sids: tuple[str, ...], all_failed: bool, yes: bool, actor: str | None) -> None:
    """Send failed pushes again (NT... SIDs, or --all-failed). Only failed ones move; each goes out once."""
    if not push_sids and not all_failed:
        raise click.UsageError("Name the pushes to replay (NT... SIDs) or pass --all-failed")
    filt = _push_filter((push_outbox.FAILED,), None, push_sids=push_sids)
    _replay(push_admin.PUSHES, filt, yes, actor, "were no longer failed")


# -- unrouted --------------------------------------------------------------------------------------------------


@click.group()
def unrouted() -> None:
    """Inbound messages that matched no conversation."""


@unrouted.command("list")
@click.option("--limit", default=50, show_default=True)
def list_unrouted(limit: int) -> None:
    with _database() as database, database.transaction() as session:
        page = admin.list_unrouted(session, PageRequest(page_size=max(1, min(limit, 1000))))
        for row in page.items:
            route = f"{row.from_address:<24} -> {row.to_address:<24}"
            click.echo(f"{row.id:>8}  {iso(row.date_created)}  {route} {(row.body or '')[:50]}")


@unrouted.command("reroute")
@click.argument("unrouted_id", type=int)
@click.option("--actor", default=None)
def reroute(unrouted_id: int, actor: str | None) -> None:
    """Route a kept message again, once its participant has been added to a conversation."""
    with _database() as database:
        try:
            result = admin.reroute(database.transaction, unrouted_id, actor or f"cli:{getpass.getuser()}")
        except BridgeError as error:
            raise click.ClickException(error.message) from None
    if not result.routed:
        raise click.ClickException(f"not routed: {result.reason}")
    click.echo(f"routed as {result.message_sid}")

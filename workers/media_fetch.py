"""Fetching one inbound media file from the carrier (with its credentials), storing it, then letting the
message's deliveries go. The carrier's URL is fetched once; recipients only ever get the bridge's URL."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from bridge import delivery, inbound_media
from bridge import media as media_files
from bridge.carriers import carrier_account_sid, carrier_auth_token
from bridge.fetch import FetchError, fetch
from bridge.models import Media
from workers.context import WorkerContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchOutcome:
    retry_in_seconds: float | None = None


def run_media_fetch(ctx: WorkerContext, media_id: int) -> FetchOutcome:
    settings = ctx.settings
    with ctx.database.transaction() as session:
        row = session.scalar(select(Media).where(Media.id == media_id, Media.status == inbound_media.PENDING))
        if row is None or not row.carrier_url:
            return FetchOutcome()  # already fetched (a duplicate task) or not an inbound file
        url, attempts = row.carrier_url, row.fetch_attempts
    try:
        fetched = fetch(
            url,
            auth=(carrier_account_sid(settings), carrier_auth_token(settings)),
            max_bytes=settings.media_max_bytes,
            timeout=settings.fetch_timeout,
            allow_private=settings.fetch_allow_private,
        )
    except FetchError as error:
        return _failed(ctx, media_id, error, attempts)
    with ctx.database.transaction() as session:
        row = session.get(Media, media_id)
        if row is None:
            return FetchOutcome()
        media_files.store_fetched(session, ctx.store, row, fetched.data, fetched.content_type)
        inbound_media.release_deliveries(session, row.message_id)
    log.info("media %s fetched from the carrier (%d bytes)", row.sid, len(fetched.data))
    return FetchOutcome()


def _failed(ctx: WorkerContext, media_id: int, error: FetchError, attempts_before: int) -> FetchOutcome:
    retry = error.retryable and attempts_before + 1 < inbound_media.MAX_FETCH_ATTEMPTS
    with ctx.database.transaction() as session:
        row = session.get(Media, media_id)
        if row is None or row.status != inbound_media.PENDING:
            return FetchOutcome()
        if retry:
            media_files.record_fetch_retry(session, row, str(error))
        else:
            # Given up: the message goes out without this file rather than never.
            media_files.mark_failed(session, row, str(error))
            inbound_media.release_deliveries(session, row.message_id)
    log.warning("media %s: fetch failed (%s)%s", media_id, error, "; will retry" if retry else "; giving up")
    if retry:
        return FetchOutcome(
            retry_in_seconds=delivery.backoff_seconds(
                attempts_before + 1, ctx.settings.retry_base_seconds, ctx.settings.retry_max_seconds
            )
        )
    return FetchOutcome()

"""Push notifications in the workers: claim a planned push, skip it if the user is online, else send it through
FCM or APNs, and record what came of it. No transaction is open while a platform is being called.

These tasks run on the webhook queue (`hooks`): like webhooks to the application, they wait on someone else's
servers, and a slow FCM must take no thread a delivery needs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from bridge import metrics
from bridge.chat import presence
from bridge.delivery import backoff_seconds
from bridge.models import ConversationService
from bridge.push import apns, fcm, outbox
from bridge.push.outbox import PushJob, Result
from bridge.push.payloads import Push
from bridge.push.settings import effective_settings
from bridge.timeutil import utcnow
from workers import coordination
from workers.context import WorkerContext, durably

log = logging.getLogger(__name__)

PLATFORM_TIMEOUT = 10.0  # seconds for FCM's or APNs' answer (the token grant has google-auth's own)


@dataclass
class Senders:
    """The process's connections to the platforms, kept between tasks."""

    fcm_http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=PLATFORM_TIMEOUT))
    fcm_tokens: fcm.TokenCache = field(default_factory=fcm.TokenCache)
    apns_by_ca: dict[str | None, apns.Clients] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def apns(self, ca_file: str | None) -> apns.Clients:
        with self.lock:
            if ca_file not in self.apns_by_ca:
                self.apns_by_ca[ca_file] = apns.Clients(PLATFORM_TIMEOUT, ca_file)
            return self.apns_by_ca[ca_file]


SENDERS = Senders()


def run_pushes(ctx: WorkerContext, send_ids: list[int]) -> list[tuple[int, float]]:
    """Sends each push; returns the ones to try again, with their delays."""
    retries = []
    for send_id in send_ids:
        delay = send_one(ctx, send_id)
        if delay is not None:
            retries.append((send_id, delay))
    return retries


def send_one(ctx: WorkerContext, send_id: int) -> float | None:
    """One push; returns the delay before its next attempt when it is to be retried."""
    settings = ctx.settings
    with ctx.database.transaction() as session:
        job = outbox.claim(session, send_id, settings.delivery_lease_seconds)
        service = session.get(ConversationService, job.service_id) if job else None
        log_enabled = service is not None and effective_settings(service).log_enabled
    if job is None:
        return None  # done, in flight elsewhere, or not due
    status, result = _attempt(ctx, job)
    retry_at, delay = None, None
    if status == outbox.PENDING:
        delay = backoff_seconds(
            job.attempt, settings.retry_base_seconds, settings.retry_max_seconds, result.retry_after if result else None
        )
        retry_at = utcnow() + timedelta(seconds=delay)
    durably(ctx, lambda session: outbox.record(session, job, status, result, retry_at), f"push {job.sid}")
    metrics.push_attempt(job.binding_type or "none", status)
    if log_enabled or status == outbox.FAILED:
        described = f" ({result.error})" if result and result.error else ""
        level = logging.WARNING if status == outbox.FAILED else logging.INFO
        log.log(
            level,
            "push %s (%s) to %s %s: %s after attempt %d%s",
            job.sid,
            job.message_type,
            job.binding_type,
            mask_token(job.token),
            status,
            job.attempt,
            described,
        )
    return delay


def _attempt(ctx: WorkerContext, job: PushJob) -> tuple[str, Result | None]:
    """The push's new status, and the platform's answer when one was asked."""
    if job.user_sid and presence.is_online(coordination.shared(), job.user_sid):
        return outbox.SKIPPED, None  # a socket of theirs is open: the SDK hears of it there
    if job.binding_type is None or job.token is None:
        return outbox.UNREGISTERED, Result("unregistered", None, "the binding was deleted before the push went")
    credential = job.credential
    if credential is None or credential.type != job.binding_type:
        found = f"a credential of type {credential.type}" if credential else "no credential"
        return outbox.FAILED, Result("failed", None, f"the binding's credential is {found}, not {job.binding_type}")
    push = Push.from_stored(job.payload)
    settings = ctx.settings
    if job.binding_type == "fcm":
        result = fcm.send(SENDERS.fcm_http, SENDERS.fcm_tokens, credential.secret, push, job.token, settings.fcm_url)
    else:
        clients = SENDERS.apns(settings.apns_ca_file)
        result = apns.send(clients, credential, push, job.token, settings.apns_url)
    if result.outcome == "sent":
        return outbox.SENT, result
    if result.outcome == "unregistered":
        return outbox.UNREGISTERED, result
    if result.outcome == "retry" and job.attempt < ctx.settings.push_max_attempts:
        return outbox.PENDING, result
    return outbox.FAILED, result


def mask_token(token: str | None) -> str:
    """A device token in a log line: enough to tell two apart, too little to push to."""
    if not token:
        return "-"
    if len(token) <= 12:
        return "…"
    return f"{token[:4]}…{token[-4:]}"


def sweep(ctx: WorkerContext) -> list[int]:
    """Pushes to enqueue again: past their lease (a worker died sending), or due and never run."""
    with ctx.database.transaction() as session:
        released = outbox.release_expired_leases(session)
    with ctx.database.transaction() as session:
        due = outbox.due(session, overdue_by=ctx.settings.sweep_grace_seconds)
    return sorted(set(released) | set(due))

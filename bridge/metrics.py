"""The bridge's Prometheus metrics: what its processes count while they work.

Defined here (prometheus_client is neither Flask nor Celery), recorded by the edge (`webhooks/`) and the workers
(`workers/`) after the work they describe is committed, read by a scrape (`bridge/metrics_scrape.py`). Under
PROMETHEUS_MULTIPROC_DIR (`bridge/metrics_dir.py`) each process writes its values to its own files there and a
scrape adds them up; without it they live in this process's memory. Every metric has labels, so a process that
records nothing (beat, a CLI command) writes no files.

Label values come from short fixed lists (and Twilio's error codes), never from a message, an address or a SID.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, disable_created_metrics

from bridge.carriers.base import RATE_LIMITED, TIMEOUT, UNREACHABLE, CarrierError

# No `_created` series beside each counter and histogram: a process's start time per series is noise on a
# dashboard, and multiprocess mode has none, so a scrape reads the same whichever mode a process is in.
disable_created_metrics()

# bridge_webhooks_total: webhook
INBOUND, STATUS = "inbound", "status"
# result, and the outcome of a status callback (an inbound one's is bridge.inbound's: routed, duplicate, ...)
ACCEPTED, REFUSED = "accepted", "refused"
APPLIED, IGNORED = "applied", "ignored"
# refusals, by the status the webhook was answered with
REFUSALS = {400: "malformed", 403: "bad_signature", 413: "too_large", 503: "database_unavailable"}
# bridge_carrier_request_duration_seconds: operation
SEND, LOOKUP = "send", "lookup"

WEBHOOKS = Counter(
    "bridge_webhooks",
    "Carrier webhooks by what became of them: accepted (outcome: what was stored) or refused (outcome: why).",
    ["webhook", "result", "outcome"],
)
DELIVERIES = Counter(
    "bridge_deliveries",
    "Deliveries reaching a status: sent (the carrier accepted it) or failed as a worker records them; delivered, "
    "read, undelivered or failed as a carrier's status callback moves them. error_code is the carrier's (0: none).",
    ["status", "channel", "error_code"],
)
CARRIER_REQUESTS = Histogram(
    "bridge_carrier_request_duration_seconds",
    "Carrier API calls (a send, or the lookup of a send whose answer was lost), by outcome.",
    ["operation", "outcome"],
    # From a quick carrier answer to BRIDGE_CARRIER_TIMEOUT (10 s by default) and past it.
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


CONVERSATION_WEBHOOKS = Counter(
    "bridge_conversation_webhooks",
    "Post-event webhook attempts to the application's backend, by event type and outcome: delivered (a 2xx), "
    "retried (a timeout, a refused connection, 429 or 5xx: tried again later) or failed (kept for replay).",
    ["event_type", "outcome"],
)
CONVERSATION_WEBHOOK_LAG = Histogram(
    "bridge_conversation_webhook_lag_seconds",
    "From a change to the delivery of its post-event webhook (the receiver's 2xx), by event type.",
    ["event_type"],
    # A webhook sent at once takes milliseconds; one that waited out a receiver's outage, minutes.
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
)
PRE_EVENT_WEBHOOKS = Counter(
    "bridge_pre_event_webhooks",
    "Pre-event webhooks asked before a change, by event type and verdict: proceed, modified, rejected, or "
    "no_answer (a timeout or a refused connection: the change went ahead).",
    ["event_type", "verdict"],
)

PUSHES = Counter(
    "bridge_pushes",
    "Push notification attempts, by platform (fcm, apn) and outcome: sent, retried (no answer, 429, 5xx: tried "
    "again later), failed (kept for replay), unregistered (the token is dead, its binding deleted) or skipped (the "
    "user had a chat socket open).",
    ["platform", "outcome"],
)


def push_attempt(platform: str, status: str) -> None:
    """One push's outcome; `status` is its new one (pending: retried)."""
    PUSHES.labels(platform, "retried" if status == "pending" else status).inc()


def conversation_webhook_attempt(event_type: str, status: str, lag_seconds: float | None) -> None:
    """One attempt's outcome; `status` is the call's new one (delivered, pending: retried, failed)."""
    outcome = "retried" if status == "pending" else status
    CONVERSATION_WEBHOOKS.labels(event_type, outcome).inc()
    if status == "delivered" and lag_seconds is not None:
        CONVERSATION_WEBHOOK_LAG.labels(event_type).observe(max(lag_seconds, 0.0))


def pre_event_asked(event_type: str, rejected: bool, changed: bool, answered: bool) -> None:
    verdict = "rejected" if rejected else "modified" if changed else "proceed" if answered else "no_answer"
    PRE_EVENT_WEBHOOKS.labels(event_type, verdict).inc()


def webhook_accepted(webhook: str, outcome: str) -> None:
    WEBHOOKS.labels(webhook, ACCEPTED, outcome).inc()


def webhook_refused(webhook: str, http_status: int) -> None:
    reason = REFUSALS.get(http_status) or ("server_error" if http_status >= 500 else "other")
    WEBHOOKS.labels(webhook, REFUSED, reason).inc()


def delivery_reached(status: str, channel: str, error_code: int | None = None) -> None:
    DELIVERIES.labels(status, channel, str(error_code or 0)).inc()


def carrier_request(operation: str, seconds: float, error: BaseException | None = None) -> None:
    CARRIER_REQUESTS.labels(operation, carrier_outcome(error)).observe(seconds)


def carrier_outcome(error: BaseException | None) -> str:
    """ok, or how the call failed: timeout, unreachable, throttled (429, 20429), server_error (5xx), rejected (any
    other answer: the carrier's final word), or error (the bridge could not read the answer)."""
    if error is None:
        return "ok"
    if not isinstance(error, CarrierError):
        return "error"
    if error.code == TIMEOUT:
        return "timeout"
    if error.code == UNREACHABLE:
        return "unreachable"
    if error.http_status is None:
        return "error"
    if error.http_status == 429 or error.code == RATE_LIMITED:
        return "throttled"
    return "server_error" if error.http_status >= 500 else "rejected"

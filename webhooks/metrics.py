"""`GET /metrics`: Prometheus' scrape of every process sharing this web process's metrics directory, behind
BRIDGE_METRICS_TOKEN (bridge/metrics_scrape.py), plus the delivery queue per sender, read from the database at
scrape time (bridge/delivery_queue.py). Without a token configured the route answers 404: metrics are never open
by default."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Blueprint, Response, request
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bridge import delivery_queue, metrics_scrape
from bridge.db import Database
from bridge.timeutil import utcnow
from webhooks.api.base import database, settings
from webhooks.errors import error_response

log = logging.getLogger(__name__)
blueprint = Blueprint("metrics", __name__)

TOP_SENDERS = 50  # senders reported by name; the rest are summed into sender="other"
QUERY_TIMEOUT_MS = 5000  # a scrape never holds a database connection longer (PostgreSQL)


class DeliveryQueueCollector:
    """bridge_delivery_queue_depth and bridge_delivery_queue_oldest_age_seconds, by sender, at scrape time. When
    the database cannot answer, both are left out of the scrape (alert on their absence) and the rest is served."""

    def __init__(self, database: Database, top: int = TOP_SENDERS) -> None:
        self.database = database
        self.top = top

    def collect(self) -> Iterator[Metric]:
        try:
            with self.database.transaction() as session:
                if not self.database.is_sqlite:
                    session.execute(text(f"SET LOCAL statement_timeout = {QUERY_TIMEOUT_MS}"))
                found = delivery_queue.queues(session)
        except SQLAlchemyError as error:
            log.warning("metrics: the delivery queue could not be read (%s)", type(error).__name__)
            return
        depth = GaugeMetricFamily(
            "bridge_delivery_queue_depth",
            "Deliveries waiting for the carrier (pending or sending), by sender (proxy address); the senders beyond "
            f'the {self.top} deepest are summed into sender="other". Read from the database at scrape time.',
            labels=["sender"],
        )
        age = GaugeMetricFamily(
            "bridge_delivery_queue_oldest_age_seconds",
            "How long the oldest delivery waiting for the carrier behind each sender has existed (0: none waits).",
            labels=["sender"],
        )
        for line in delivery_queue.by_sender(found, utcnow(), self.top):
            depth.add_metric([line.sender], line.depth)
            age.add_metric([line.sender], line.oldest_age_seconds)
        yield depth
        yield age


@blueprint.get("/metrics")
def scrape() -> Response:
    refused = metrics_scrape.refusal(request.headers.get("Authorization"), settings().metrics_token)
    if refused is not None:
        return error_response(*refused)
    scraped = metrics_scrape.registry(DeliveryQueueCollector(database()))
    body, content_type = metrics_scrape.render(scraped, request.headers.get("Accept"))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})

"""The Celery application, built from the same Settings as the web process.

Reliability settings follow what Celery with Redis actually does: tasks are acknowledged late and
re-queued when a worker dies, and every task is idempotent because Redis will deliver some of them twice.
Rows in the database are the truth; Redis messages are only wake-up calls, and the beat sweeper re-sends
any that were lost.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, beat_init, worker_init, worker_ready
from sentry_sdk.integrations.celery import CeleryIntegration

from bridge import errortracking, logsetup
from bridge.carriers import carrier_problem
from bridge.config import Settings
from bridge.embedded import celery_broker_url, socket_url, start_embedded_redis
from workers import (
    liveness,  # noqa: F401  (workers record their heartbeats for the admin dashboard)
    metrics_server,
)
from workers.queues import DELIVERY_QUEUE, HOOKS_QUEUE

_embedded_server: Any = None  # kept alive for the life of the process when the embedded Redis is in use


def redis_url(settings: Settings) -> str:
    global _embedded_server
    if settings.redis_url:
        return settings.redis_url
    if _embedded_server is None:
        _embedded_server = start_embedded_redis(settings.instance_dir)
    return socket_url(_embedded_server)


def configure(app: Celery, settings: Settings) -> None:
    if app.conf.get("bridge_settings") == settings:
        return  # a second app from the same settings (tests build several) leaves a running worker's broker alone
    app.conf.update(
        broker_url=celery_broker_url(redis_url(settings)),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=DELIVERY_QUEUE,
        # Webhooks to the application's backend go to their own queue and worker (see workers/queues.py).
        task_routes={
            name: {"queue": HOOKS_QUEUE}
            for name in (
                "bridge.plan_webhooks",
                "bridge.send_webhook",
                "bridge.ask_pre_event",
                "bridge.sweep_webhooks",
                "bridge.prune_events",
                # Pushes wait on FCM's and APNs' servers as webhooks wait on the application's.
                "bridge.send_pushes",
                "bridge.sweep_pushes",
            )
        },
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # A publish to a vanished Redis must not hang a web request: fail fast, the sweeper catches up.
        broker_transport_options={"visibility_timeout": 3600, "socket_connect_timeout": 3, "socket_timeout": 10},
        broker_connection_timeout=3,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        broker_pool_limit=20,
        worker_hijack_root_logger=False,
        timezone="UTC",
        beat_schedule={
            "sweep-deliveries": {
                "task": "bridge.sweep",
                "schedule": timedelta(seconds=settings.sweep_interval_seconds),
            },
            "expire-conversation-timers": {"task": "bridge.expire_timers", "schedule": timedelta(seconds=15)},
            "sweep-webhooks": {
                "task": "bridge.sweep_webhooks",
                "schedule": timedelta(seconds=settings.sweep_interval_seconds),
            },
            "sweep-pushes": {
                "task": "bridge.sweep_pushes",
                "schedule": timedelta(seconds=settings.sweep_interval_seconds),
            },
            "prune-events": {
                "task": "bridge.prune_events",
                "schedule": timedelta(hours=1),
            },
        },
        bridge_settings=settings,
    )
    if settings.carrier_sync_seconds > 0:  # 0: the account is read only when a worker starts (and by the CLI)
        app.conf.beat_schedule["sync-carrier-numbers"] = {
            "task": "bridge.sync_carrier_numbers",
            "schedule": timedelta(seconds=settings.carrier_sync_seconds),
        }


app = Celery("bridge", include=["workers.tasks", "workers.carrier_sync"])
configure(app, Settings.from_env())


# Celery configures its loggers when a worker or beat starts: their handlers write text or JSON (LOG_FORMAT), with
# the log context's fields (a delivery's SIDs) and numbers and bodies masked.
@after_setup_logger.connect(dispatch_uid="bridge.logmask")
@after_setup_task_logger.connect(dispatch_uid="bridge.logmask.task")
def _format_logs(logger: logging.Logger, **_kwargs: Any) -> None:
    logsetup.adopt_all(logger, app.conf.bridge_settings.log_format)


@beat_init.connect(dispatch_uid="bridge.sentry.beat")
def _beat_errors_to_sentry(**_kwargs: Any) -> None:
    errortracking.init(app.conf.bridge_settings.sentry_dsn, [CeleryIntegration()])


# Every worker, however started (the Procfile's `celery ... worker`, `bridge worker`, `bridge run`), checks its
# carrier before it takes a task: on a real database with no carrier named it exits with the line that says what
# to set, instead of reporting messages delivered that went nowhere.
@worker_init.connect(dispatch_uid="bridge.carrier_check")
def _refuse_without_carrier(**_kwargs: Any) -> None:
    problem = carrier_problem(app.conf.bridge_settings)
    if problem:
        raise SystemExit(f"bridge worker: {problem}")
    errortracking.init(app.conf.bridge_settings.sentry_dsn, [CeleryIntegration()])


# A worker's own metrics endpoint, when BRIDGE_METRICS_PORT asks for one (workers/metrics_server.py).
@worker_ready.connect(dispatch_uid="bridge.metrics_endpoint")
def _serve_metrics(**_kwargs: Any) -> None:
    settings: Settings = app.conf.bridge_settings
    if settings.metrics_port is not None:
        metrics_server.serve(settings)

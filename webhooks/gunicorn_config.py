"""gunicorn settings for the web process (`gunicorn --config python:webhooks.gunicorn_config ...`)."""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

from bridge import logsetup, metrics_dir
from bridge.config import log_format

# Prometheus' multiprocess mode (bridge/metrics_dir.py): the directory is in the environment before any worker
# is forked, and so before any of them imports prometheus_client (which reads it once). Nothing here imports it.
metrics_directory = metrics_dir.prepare(os.environ, "web")

bind = os.environ.get("BRIDGE_BIND") or f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# Twilio gives up on a webhook after 15 s and Heroku's router after 30 s: answer well inside both.
timeout = 25
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# No query string in access logs: list filters carry phone numbers (ParticipantConversations?Address=...).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


# gunicorn's error and access logs get the bridge's mask too (bridge/logmask.py). The path alone can carry a
# number (/v1/Configuration/Addresses/+1415...), and an error line prints the whole request URI. With
# LOG_FORMAT=json they are JSON lines like the app's (bridge/logsetup.py).
class MaskingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logsetup.adopt_all(logger, log_format(os.environ))


logger_class = MaskingLogger


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: prometheus_client drops its live gauges (its counters stay, they are history)."""
    from prometheus_client import multiprocess  # here, not above: the master imports it only once the path is set

    multiprocess.mark_process_dead(worker.pid, str(metrics_directory))

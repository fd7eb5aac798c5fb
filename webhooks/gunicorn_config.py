"""gunicorn settings for the web process (`gunicorn --config python:webhooks.gunicorn_config ...`)."""

from __future__ import annotations

import os

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

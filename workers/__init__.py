"""Celery workers: translate and deliver messages, retry, sweep, and run timers. Never imports `webhooks`."""

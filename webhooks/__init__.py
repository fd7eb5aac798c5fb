"""The bridge's HTTP edge (Flask). `create_app` is the WSGI factory gunicorn loads."""

from webhooks.app import create_app

__all__ = ["create_app"]

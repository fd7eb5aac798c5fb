"""A real bridge on loopback for tests: real HTTP, real database, every response checked against the spec."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from werkzeug.serving import BaseWSGIServer, make_server

from bridge import accounts
from bridge.config import Settings, normalize_database_url
from bridge.db import Database
from bridge.models import Base
from tests.support.spec import violations

API_PREFIXES = ("/v1/", "/messaging/v1/")


class SpecChecker:
    """WSGI middleware: validates each API response body against its operation's schema."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.problems: list[str] = []
        self.checked = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            captured["content_type"] = dict((k.lower(), v) for k, v in headers).get("content-type", "")
            return start_response(status, headers, exc_info)

        body = b"".join(self.app(environ, capture))
        path = environ.get("PATH_INFO", "")
        if path.startswith(API_PREFIXES):
            found = violations(environ["REQUEST_METHOD"], path, captured["status"], captured["content_type"], body)
            with self.lock:
                self.checked += 1
                self.problems.extend(found)
        return [body]

    def take(self) -> list[str]:
        with self.lock:
            problems, self.problems = self.problems, []
        return problems


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the server `server_url` points at; dropped afterwards."""
    url = make_url(normalize_database_url(server_url))
    name = f"bridge_test_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class LiveBridge:
    url: str
    settings: Settings
    app: Flask
    database: Database
    checker: SpecChecker
    server: BaseWSGIServer
    thread: threading.Thread = field(repr=False)
    environment: dict[str, str] = field(default_factory=dict)  # what a bridge process needs to join this one

    @property
    def account_sid(self) -> str:
        return self.settings.account_sid

    @property
    def auth_token(self) -> str:
        return self.settings.auth_token

    def reset(self) -> None:
        """Empties every table and recreates the account defaults, as on a first start."""
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        # A status callback of the previous test may still be writing; TRUNCATE locks table after table, so
        # PostgreSQL can pick it as a deadlock victim. The other transaction then ends, and a retry goes through.
        for attempt in range(5):
            try:
                self._empty(tables)
                break
            except OperationalError as error:
                if not isinstance(error.orig, psycopg.errors.DeadlockDetected) or attempt == 4:
                    raise
                time.sleep(0.2)
        with self.database.transaction() as session:
            accounts.ensure_defaults(session)

    def _empty(self, tables: list[str]) -> None:
        with self.database.engine.begin() as conn:
            if self.database.is_sqlite:
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
            else:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.database.dispose()


def start_live_bridge(settings: Settings, app_factory: Callable[[Settings], Flask]) -> LiveBridge:
    app = app_factory(settings)
    checker = SpecChecker(app.wsgi_app)
    app.wsgi_app = checker  # type: ignore[method-assign]
    server = make_server("127.0.0.1", settings.port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-bridge", daemon=True)
    thread.start()
    return LiveBridge(
        url=settings.public_base_url,
        settings=settings,
        app=app,
        database=app.extensions["bridge.database"],
        checker=checker,
        server=server,
        thread=thread,
    )

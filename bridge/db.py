"""Engine and sessions. The same code runs on PostgreSQL (production) and SQLite (the embedded default)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

DISPATCH_KEY = "bridge.dispatch"  # session.info key: (task, id) pairs to enqueue once the transaction commits
ANNOUNCE_KEY = "bridge.announce"  # session.info key: the event streams a transaction wrote to
# session.info key: which proxy addresses a participant may name (bridge/carrier_numbers.py: pool, account, any).
PROXY_RULE_KEY = "bridge.proxy_rule"
Dispatcher = Callable[[list[tuple[str, int]]], None]
Announcer = Callable[[set[str]], None]


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    # A database error's text would otherwise carry the statement's parameters (numbers, message bodies) into
    # every log line that prints it.
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(database_url, **kwargs)
    # No pre-ping (it costs a round trip per transaction). After a PostgreSQL restart the first statement on
    # each stale connection fails; SQLAlchemy then drops the whole pool, the failed request answers 503 (the
    # carrier retries) and a failed task leaves its row for the sweeper. Nothing is lost; one request per
    # process pays.
    kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(database_url, **kwargs)


def _sqlite_engine(database_url: str, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so every transaction can begin IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes cannot wait for the lock in WAL mode
        # (SQLITE_BUSY at once); taking the write lock up front makes writers queue instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def insert_for(session: Session, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT, in the session's dialect (PostgreSQL and SQLite both have it)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def dispatch_after_commit(session: Session, task: str, row_ids: list[int]) -> None:
    """Asks for `task` on each row once this session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(DISPATCH_KEY, []).extend((task, row_id) for row_id in row_ids)


def announce_after_commit(session: Session, stream_sid: str) -> None:
    """Tells the chat gateways, once this transaction has committed, that `stream_sid` has new events."""
    session.info.setdefault(ANNOUNCE_KEY, set()).add(stream_sid)


class Database:
    """One engine and its session factory; web processes and workers each hold one.

    `dispatcher` receives the work a transaction created, as (task, row id) pairs — deliveries to send, media
    to fetch — after it commits (never before: a worker must find the rows it is told about). It is best
    effort by design: if it fails, the rows are still there and the sweeper enqueues them.

    `announcer` receives the event streams a transaction wrote to, after it commits: the chat gateways' wake-up.
    Best effort too: a gateway also polls the streams its clients follow.
    """

    def __init__(
        self,
        database_url: str,
        dispatcher: Dispatcher | None = None,
        announcer: Announcer | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.url = database_url
        self.engine = make_engine(database_url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.dispatcher = dispatcher
        self.announcer = announcer
        # Set by the processes that add participants, from their carrier (carrier_numbers.proxy_rule).
        self.proxy_rule: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        session = self.sessions()
        if self.proxy_rule is not None:
            session.info[PROXY_RULE_KEY] = self.proxy_rule
        try:
            yield session
            session.commit()
            committed = session.info.pop(DISPATCH_KEY, None)
            streams = session.info.pop(ANNOUNCE_KEY, None)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        self._dispatch(committed)
        self._announce(streams)

    def _dispatch(self, work: list[tuple[str, int]] | None) -> None:
        if not work or self.dispatcher is None:
            return
        try:
            self.dispatcher(work)
        except Exception:  # the broker is down: the sweeper will find the committed rows
            log.warning("could not enqueue %d tasks; the sweeper will enqueue them", len(work))

    def _announce(self, streams: set[str] | None) -> None:
        if not streams or self.announcer is None:
            return
        try:
            self.announcer(streams)
        except Exception:  # Redis is down: the gateways' polling finds the events
            log.warning("could not announce %d event streams; the chat gateways will poll them", len(streams))

    def dispose(self) -> None:
        self.engine.dispose()

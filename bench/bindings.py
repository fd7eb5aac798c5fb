"""Many active bindings, fast: conversations and SMS participants inserted with SQL, not through HTTP.

Each new row is a copy of a template row the REST API created (so every column, including ones added by later
migrations, holds what the bridge itself writes), with its own SID, conversation and address. Addresses are
+1 415 000 0000 upwards; the benchmarks' REST-created participants live elsewhere (+1 628 ...).
"""

from __future__ import annotations

import contextlib
import time

import psycopg
from psycopg import sql

from bench.loadgen import Pair

FIRST_BULK_NUMBER = 4_150_000_000  # the ten digits after +1
CHUNK_CONVERSATIONS = 50_000


def _plain_url(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://")


def _columns(connection: psycopg.Connection, table: str) -> list[str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
        "ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [row[0] for row in rows if row[0] != "id"]


def _copy_select(columns: list[str], overrides: dict[str, str], alias: str) -> tuple[sql.Composable, sql.Composable]:
    """The column list and, for each column, the override expression or the template's value."""
    names = sql.SQL(", ").join(sql.Identifier(name) for name in columns)
    values = sql.SQL(", ").join(
        sql.SQL(overrides[name])
        if name in overrides
        else sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name))
        for name in columns
    )
    return names, values


def active_bindings(database_url: str) -> int:
    with psycopg.connect(_plain_url(database_url)) as connection:
        row = connection.execute("SELECT count(*) FROM participants WHERE binding_active").fetchone()
        return int(row[0]) if row else 0


def add_bindings(database_url: str, template_conversation_sid: str, target: int, parties: int = 3) -> int:
    """Copies the template conversation (and its first participant, `parties` times per copy) until `target`
    bindings are active; returns the number of active bindings."""
    url = _plain_url(database_url)
    with psycopg.connect(url) as connection:
        template = connection.execute(
            "SELECT c.id, min(p.id) FROM conversations c JOIN participants p ON p.conversation_id = c.id "
            "WHERE c.sid = %s GROUP BY c.id",
            (template_conversation_sid,),
        ).fetchone()
        if template is None:
            raise RuntimeError(f"template conversation {template_conversation_sid} not found")
        template_conversation, template_participant = template
        conversation_columns = _columns(connection, "conversations")
        participant_columns = _columns(connection, "participants")
        already = connection.execute("SELECT count(*) FROM participants WHERE binding_active").fetchone()
        next_number = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM conversations").fetchone()
    assert already is not None and next_number is not None
    missing = max(0, target - int(already[0]))
    conversations_needed = -(-missing // parties)
    conversation_names, conversation_values = _copy_select(
        conversation_columns,
        {
            "sid": "'CH' || lpad(to_hex(g.n), 32, '0')",
            "unique_name": "NULL",
            "friendly_name": "'bench-scale'",
            "state": "'active'",
            "date_inactive": "NULL",
            "date_closed": "NULL",
            "last_message_index": "-1",
            "date_created": "now()",
            "date_updated": "now()",
        },
        "t",
    )
    participant_names, participant_values = _copy_select(
        participant_columns,
        {
            "sid": "'MB' || lpad(to_hex(c.id * 8 + s.slot), 32, '0')",
            "conversation_id": "c.id",
            "identity": "NULL",
            "address": f"'+1' || ({FIRST_BULK_NUMBER} + c.id * {parties} + s.slot)::text",
            "binding_active": "true",
            "joined_at_index": "-1",
            "last_inbound_at": "NULL",
            "last_read_message_index": "NULL",
            "last_read_timestamp": "NULL",
            "date_created": "now()",
            "date_updated": "now()",
        },
        "t",
    )
    statement = sql.SQL(
        "WITH new_conversations AS ("
        " INSERT INTO conversations ({conversation_names})"
        " SELECT {conversation_values} FROM conversations t, generate_series(%(first)s, %(last)s) AS g(n)"
        " WHERE t.id = %(template_conversation)s RETURNING id)"
        " INSERT INTO participants ({participant_names})"
        " SELECT {participant_values} FROM new_conversations c"
        " CROSS JOIN generate_series(0, %(parties)s - 1) AS s(slot)"
        " JOIN participants t ON t.id = %(template_participant)s"
    ).format(
        conversation_names=conversation_names,
        conversation_values=conversation_values,
        participant_names=participant_names,
        participant_values=participant_values,
    )
    started = time.monotonic()
    first = int(next_number[0]) + 1_000_000_000  # SIDs that cannot meet the ones the REST API generated
    done = 0
    with psycopg.connect(url) as connection:
        while done < conversations_needed:
            chunk = min(CHUNK_CONVERSATIONS, conversations_needed - done)
            connection.execute(
                statement,
                {
                    "first": first + done,
                    "last": first + done + chunk - 1,
                    "template_conversation": template_conversation,
                    "template_participant": template_participant,
                    "parties": parties,
                },
            )
            connection.commit()
            done += chunk
            if conversations_needed > CHUNK_CONVERSATIONS:
                print(f"  bulk insert: {done * parties:,} of {missing:,} bindings ({time.monotonic() - started:.0f} s)")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE conversations")
        connection.execute("VACUUM ANALYZE participants")
        # Write the inserted pages out now, not in a checkpoint in the middle of the measurement.
        with contextlib.suppress(psycopg.Error):
            connection.execute("CHECKPOINT")
    return active_bindings(database_url)


def table_scans(database_url: str) -> dict[str, tuple[int, int, int]]:
    """Per table: (sequential scans, rows they read, index scans) so far, from pg_stat_user_tables."""
    with psycopg.connect(_plain_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT relname, coalesce(seq_scan, 0), coalesce(seq_tup_read, 0), coalesce(idx_scan, 0) "
            "FROM pg_stat_user_tables"
        ).fetchall()
    return {name: (int(seq), int(read), int(index)) for name, seq, read, index in rows}


def scans_between(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]) -> str:
    """The tables that were scanned sequentially in between, with the rows read: what grows with the table."""
    parts = []
    for name, (seq, read, _index) in sorted(after.items()):
        old_seq, old_read, _ = before.get(name, (0, 0, 0))
        if seq > old_seq:
            parts.append(f"{name}: {seq - old_seq} seq scans, {read - old_read:,} rows read")
    return "; ".join(parts) or "no sequential scans"


def sample_bindings(database_url: str, count: int, exclude_conversation_sid: str | None = None) -> list[Pair]:
    """`count` active SMS bindings picked at random across the whole table (cold index pages included)."""
    with psycopg.connect(_plain_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT p.address, p.proxy_address FROM participants p JOIN conversations c ON c.id = p.conversation_id "
            "WHERE p.binding_active AND p.address IS NOT NULL AND c.sid IS DISTINCT FROM %s "
            "ORDER BY random() LIMIT %s",
            (exclude_conversation_sid, count),
        ).fetchall()
    return [Pair(address, proxy) for address, proxy in rows]


def io_counters(database_url: str) -> tuple[int, int, int]:
    """(WAL position in bytes, shared-buffer misses, shared-buffer hits) of this database so far."""
    url = _plain_url(database_url)
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, blks_read, blks_hit "
            "FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def io_between(before: tuple[int, int, int], after: tuple[int, int, int], requests: int) -> str:
    """Per webhook: WAL written (server-wide, so other databases' writes count too) and buffer misses."""
    wal, misses, hits = (a - b for a, b in zip(after, before, strict=True))
    return (
        f"{wal / requests / 1024:.1f} KiB WAL, {misses / requests:.1f} shared-buffer misses "
        f"and {hits / requests:.0f} hits per webhook"
    )

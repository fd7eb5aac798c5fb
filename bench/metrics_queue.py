"""What the delivery queue gauges' query costs a scrape, at a given backlog, on PostgreSQL.

    .venv/bin/python bench/metrics_queue.py [--waiting 2000] [--finished 1000000] [--participants 1000000]
                                            [--senders 40] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Creates a scratch database on the server, bulk-inserts participants spread over `--senders` proxy addresses and
deliveries to them (`--waiting` pending, `--finished` delivered; foreign keys are not checked while filling,
nothing but these two tables is read), runs ANALYZE, prints the query's plan (EXPLAIN ANALYZE) and the median of
20 runs of `bridge.delivery_queue.queues`, and drops the database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge import delivery_queue
from bridge.db import Database
from bridge.migrate import upgrade
from tests.support.live import scratch_database


def fill(database: Database, participants: int, senders: int, waiting: int, finished: int) -> None:
    with database.engine.begin() as conn:
        conn.exec_driver_sql("SET session_replication_role = replica")  # no foreign key checks while filling
        conn.exec_driver_sql(
            "INSERT INTO participants (id, sid, conversation_id, service_id, channel, address, proxy_address,"
            " attributes, binding_active, notification_level, joined_at_index, date_created, date_updated)"
            " SELECT n, 'MB' || lpad(n::text, 32, '0'), n, 1, 'sms', '+1415' || lpad(n::text, 7, '0'),"
            f" '+1201555' || lpad(mod(n, {senders})::text, 4, '0'), '{{}}', true, 'default', 0, now(), now()"
            f" FROM generate_series(1, {participants}) n"
        )
        conn.exec_driver_sql(
            "INSERT INTO deliveries (sid, message_id, conversation_id, participant_id, participant_sid, status,"
            " error_code, attempts, sends_done, next_attempt_at, date_created, date_updated)"
            f" SELECT 'DY' || lpad(n::text, 32, '0'), n, mod(n, {participants}) + 1, mod(n, {participants}) + 1,"
            f" 'MB', CASE WHEN n <= {waiting} THEN 'pending' ELSE 'delivered' END, 0, 1, 0, now(),"
            f" now() - (n || ' seconds')::interval, now() FROM generate_series(1, {waiting + finished}) n"
        )
        conn.exec_driver_sql("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", type=int, default=2000)
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--senders", type=int, default=40)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with scratch_database(args.postgres) as url:
        upgrade(url)
        database = Database(url)
        try:
            fill(database, args.participants, args.senders, args.waiting, args.finished)
            statement = delivery_queue.statement()
            sql = str(statement.compile(dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}))
            with database.engine.connect() as conn:
                for (line,) in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql):
                    print(line)
            timings = []
            for _ in range(20):
                start = time.perf_counter()
                with database.transaction() as session:
                    found = delivery_queue.queues(session)
                timings.append(time.perf_counter() - start)
        finally:
            database.dispose()
    print(
        f"\nwaiting {args.waiting:,}, finished {args.finished:,}, participants {args.participants:,}: "
        f"{len(found)} senders, depth {sum(q.depth for q in found):,}; "
        f"query {statistics.median(timings) * 1000:.1f} ms median of 20"
    )


if __name__ == "__main__":
    main()

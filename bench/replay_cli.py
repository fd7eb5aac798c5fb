"""How long `bridge deliveries replay` takes for N failed deliveries (default 10,000), end to end.

    python bench/replay_cli.py [--count 10000] [--recipients 1000]
                               [--database postgresql://postgres@127.0.0.1:5432/test]
                               [--redis redis://127.0.0.1:6379/14]

Creates a scratch database on the given PostgreSQL server (or a SQLite file with --database sqlite), fills
it with N failed deliveries spread over the recipients, runs the real CLI in a subprocess (progress bar and
all), counts the rows pending again and the tasks queued (one per replayed batch of 500), prints the timing, and
drops the scratch database and queue.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge import accounts
from bridge.db import Database
from bridge.migrate import upgrade
from bridge.models import Conversation, Delivery, Message, Participant
from bridge.sids import new_sid
from bridge.timeutil import utcnow
from tests.support.live import scratch_database


def fill(database_url: str, count: int, recipients: int) -> None:
    database = Database(database_url)
    with database.transaction() as session:
        service = accounts.ensure_defaults(session).default_chat_service
        assert service is not None
        conversation = Conversation(sid=new_sid("CH"), service_id=service.id, last_message_index=count - 1)
        session.add(conversation)
        session.flush()
        participants = [
            Participant(
                sid=new_sid("MB"), conversation_id=conversation.id, service_id=service.id, channel="sms",
                address=f"+1415555{n:04d}", proxy_address="+12015550100", binding_active=True,
            )
            for n in range(recipients)
        ]  # fmt: skip
        session.add_all(participants)
        session.flush()
        now = utcnow()
        session.execute(
            insert(Message),
            [{"sid": new_sid("IM"), "conversation_id": conversation.id, "index": n, "author": "system",
              "body": f"note {n}", "attributes": "{}", "source": "api", "date_created": now, "date_updated": now}
             for n in range(count)],
        )  # fmt: skip
        message_ids = session.scalars(select(Message.id).order_by(Message.index)).all()
        session.execute(
            insert(Delivery),
            [{"sid": new_sid("DY"), "message_id": message_id, "conversation_id": conversation.id,
              "participant_id": participants[n % recipients].id,
              "participant_sid": participants[n % recipients].sid, "status": "failed",
              "error_code": 30003, "error_message": "Unreachable destination handset", "attempts": 8,
              "sends_done": 0, "date_created": now, "date_updated": now}
             for n, message_id in enumerate(message_ids)],
        )  # fmt: skip
    database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--recipients", type=int, default=1_000, help="the deliveries are spread over this many")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    broker = redis.Redis.from_url(args.redis)
    broker.flushdb()
    with tempfile.TemporaryDirectory() as instance:
        if args.database == "sqlite":
            run(f"sqlite:///{instance}/bench.db", args, instance, broker)
        else:
            with scratch_database(args.database) as url:
                run(url, args, instance, broker)
    broker.flushdb()


def run(database_url: str, args: argparse.Namespace, instance: str, broker: redis.Redis) -> None:
    upgrade(database_url)
    started = time.monotonic()
    fill(database_url, args.count, args.recipients)
    print(f"filled {args.count} failed deliveries to {args.recipients} recipients in {time.monotonic() - started:.1f}s")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": args.redis, "BRIDGE_INSTANCE_DIR": instance}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "workers.cli", "deliveries", "replay", "--yes", "--actor", "bench"],
                   env=env, check=True)  # fmt: skip
    elapsed = time.monotonic() - started
    database = Database(database_url)
    with database.transaction() as session:
        pending = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "pending"))
    database.dispose()
    queued = broker.llen("bridge")
    print("| deliveries | wall time (CLI process, incl. start-up) | per second | pending after | tasks queued |")
    print(f"| {args.count} | {elapsed:.1f} s | {args.count / elapsed:.0f} | {pending} | {queued} |")


if __name__ == "__main__":
    main()

"""`python -m gateway [--bind host:port]`: the chat gateway process (`bridge gateway` runs the same)."""

from __future__ import annotations

import argparse
import asyncio
import os

from bridge import errortracking, logsetup
from bridge.chat import wakeups
from bridge.config import Settings
from bridge.db import Database
from gateway.server import Gateway


def serve(bind: str | None) -> None:
    settings = Settings.from_env()
    logsetup.configure_root(settings.log_level, settings.log_format)
    errortracking.init(settings.sentry_dsn, [])
    host, _, port = (bind or f"0.0.0.0:{os.environ.get('PORT', settings.port)}").rpartition(":")
    database = Database(settings.database_url, announcer=wakeups.announcer(settings.redis_url))
    asyncio.run(Gateway(settings, database).serve_forever(host or "0.0.0.0", int(port)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--bind", default=None, help="host:port (default 0.0.0.0:$PORT)")
    serve(parser.parse_args().bind)


if __name__ == "__main__":
    main()

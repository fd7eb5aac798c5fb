"""A real chat gateway for tests: the WebSocket server on loopback, in a thread of the test process."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from bridge.config import Settings
from bridge.db import Database
from gateway.server import Gateway, Options


@dataclass
class LiveGateway:
    gateway: Gateway
    port: int
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v3/wsconnect"

    def stop(self) -> None:
        self.gateway.request_stop()
        self.thread.join(timeout=10)


def start_gateway(settings: Settings, database: Database, options: Options) -> LiveGateway:
    gateway = Gateway(settings, database, options)
    bound: list[int] = []
    ready = threading.Event()

    def serve() -> None:
        def started(port: int) -> None:
            bound.append(port)
            ready.set()

        asyncio.run(gateway.serve_forever("127.0.0.1", 0, ready=started))

    thread = threading.Thread(target=serve, name="live-gateway", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the gateway did not start")
    return LiveGateway(gateway, bound[0], thread)

"""A real chat gateway for tests: the WebSocket server on loopback, in a thread of the test process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import requests

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


class GatewayProcess:
    """The gateway as deployed: `python -m gateway` on a fixed port, which a test may SIGKILL and start again."""

    def __init__(self, environment: dict[str, str], port: int, log_path: str | None = None) -> None:
        self.environment = {**os.environ, **environment}
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v3/wsconnect"

    def start(self) -> None:
        command = [sys.executable, "-m", "gateway", "--bind", f"127.0.0.1:{self.port}"]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(command, env=self.environment, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the gateway process did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

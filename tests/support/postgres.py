"""A private PostgreSQL server for fault tests: its own data directory and port, so a test can restart it
(or stop it) without touching the machine's cluster that every other test uses."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.support.live import free_port


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; run its tools as the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PrivatePostgres:
    # Its own folder directly under /tmp: the `postgres` user must be able to reach it, and test folders
    # (mode 0700, owned by root) are out of its reach.
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bridge-pg-", dir="/tmp")))
    port: int = field(default_factory=free_port)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/bridge"

    def start(self) -> None:
        binaries = postgres_bin()
        if not self.data_dir.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.workdir, "postgres", "postgres")
            subprocess.run(
                _as_postgres([str(binaries / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust"]),
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        self._pg_ctl("start", "-w", "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off")
        self._wait_ready()
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'bridge'").fetchone():
                conn.execute("CREATE DATABASE bridge")

    def restart(self, down_for: float = 0.0) -> None:
        """Stops the server (every connection drops), waits `down_for` seconds, starts it again."""
        self.stop_server()
        time.sleep(down_for)
        self.start_server()

    def stop_server(self) -> None:
        """Stops the server, keeping its data for `start_server`."""
        self._pg_ctl("stop", "-m", "fast", "-w")

    def start_server(self) -> None:
        self._pg_ctl("start", "-w", "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off")
        self._wait_ready()

    def stop(self) -> None:
        if self.data_dir.exists():
            self._pg_ctl("stop", "-m", "immediate", "-w", check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        log = self.workdir / "postgres.log"
        subprocess.run(
            _as_postgres([str(postgres_bin() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log), *args]),
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=1):
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(f"private PostgreSQL did not come up; see {self.workdir / 'postgres.log'}")

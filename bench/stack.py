"""The private stacks the benchmarks run against, on loopback: the fake carrier process, the bridge as deployed
(a scratch PostgreSQL database, one Redis database number, gunicorn with the production config, Celery worker and
beat as in the Procfile, and the Procfile's chat gateway where a benchmark wants it), and a bare Flask app under the
same gunicorn config.

Every process is started in its own session (process group) and registered with a ProcessSet, which stops them
all, in reverse order, whatever happens (the caller's `finally`/ExitStack).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
from sqlalchemy.engine import make_url

from bench.loadgen import Pair

REPOSITORY = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
PARTICIPANTS_PER_REQUEST = 10  # ConversationWithParticipants takes at most this many (as Twilio)


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server `server_url` points at (named bridge_bench_*, so a leftover
    is recognisable); dropped afterwards, connections and all."""
    url = make_url(server_url).set(drivername="postgresql")
    name = f"bridge_bench_{secrets.token_hex(6)}"
    admin = url.render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class ManagedProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class ProcessSet:
    """The subprocesses one benchmark started. `stop_all` ends each process group by its id, nothing else."""

    workdir: Path
    running: list[ManagedProcess] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str], env: dict[str, str] | None = None) -> ManagedProcess:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                list(command),
                cwd=REPOSITORY,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop it in order
            )
        managed = ManagedProcess(name, process, log)
        self.running.append(managed)
        return managed

    def check_alive(self) -> None:
        for managed in self.running:
            code = managed.process.poll()
            if code is not None:
                raise RuntimeError(f"{managed.name} exited with {code}:\n{log_tail(managed.log)}")

    def stop(self, managed: ManagedProcess) -> None:
        process = managed.process
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        # Children that outlived their leader (a gunicorn worker, say) are still in the group.
        _signal_group(process.pid, signal.SIGKILL)
        if managed in self.running:
            self.running.remove(managed)

    def stop_all(self) -> None:
        for managed in reversed(list(self.running)):
            try:
                self.stop(managed)
            except Exception as error:  # keep stopping the others
                print(f"warning: could not stop {managed.name}: {error}", file=sys.stderr)


def _signal_group(group_id: int, signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group_id, signal_number)


# -- memory ---------------------------------------------------------------------------------------------------


def proc_status_kb(pid: int, field_name: str) -> int | None:
    """A `VmRSS`/`VmHWM` line of /proc/<pid>/status, in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (in parentheses) may contain spaces; the parent pid is the second field after it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads) so far, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)


def postgres_backends(database_url: str) -> list[int]:
    """Server processes serving connections to this database (the pools keep them for the whole run)."""
    url = make_url(database_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,)
        ).fetchall()
    return [int(row[0]) for row in rows]


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have used since boot (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU seconds each group of processes used between `start` and `stop`: where a run's time went."""

    groups: Callable[[], dict[str, list[int]]]
    before: dict[tuple[str, int], float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def _read(self) -> dict[tuple[str, int], float]:
        readings = {}
        for group, pids in self.groups().items():
            for pid in pids:
                seconds = cpu_seconds(pid)
                if seconds is not None:
                    readings[(group, pid)] = seconds
        return readings

    def start(self) -> None:
        self.before = self._read()
        self.before[("machine", 0)] = machine_busy_seconds()
        self.wall_seconds = -time.monotonic()

    def stop(self) -> None:
        self.wall_seconds += time.monotonic()
        self.used = {
            "whole machine (all processes, ours and others')": machine_busy_seconds() - self.before[("machine", 0)]
        }
        for (group, pid), seconds in self._read().items():
            # A process that appeared during the run (a new backend) counts from zero.
            self.used[group] = self.used.get(group, 0.0) + seconds - self.before.get((group, pid), 0.0)


# -- the fake carrier -----------------------------------------------------------------------------------------


@dataclass
class CarrierProcess:
    processes: ProcessSet
    status_callbacks: bool = False
    send_latency: float = 0.0  # seconds the carrier takes to answer each send
    port: int = field(default_factory=free_port)
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))

    def __post_init__(self) -> None:
        self.http = requests.Session()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable, "-m", "bench.carrier", "--port", str(self.port),
            "--account-sid", self.account_sid, "--auth-token", self.auth_token,
        ]  # fmt: skip
        if self.status_callbacks:
            command.append("--status-callbacks")
        if self.send_latency:
            command += ["--send-latency", str(self.send_latency)]
        self.managed = self.processes.start("carrier", command, env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
        wait_until(self._answers, START_TIMEOUT_SECONDS, "the fake carrier")

    def _answers(self) -> bool:
        self.processes.check_alive()
        try:
            self.http.get(self.url + "/_bench/progress", timeout=1)
            return True
        except requests.RequestException:
            return False

    def set_routes(self, routes: Sequence[tuple[str, str, str]]) -> None:
        self.http.post(self.url + "/_bench/routes", json={"routes": list(routes)}, timeout=30).raise_for_status()

    def distinct_sends(self, run_id: str) -> int:
        answer = self.http.get(self.url + "/_bench/progress", params={"run": run_id}, timeout=10)
        return int(answer.json()["distinct"])

    def records(self, run_id: str) -> dict[str, Any]:
        answer = self.http.get(self.url + "/_bench/records", params={"run": run_id}, timeout=60)
        answer.raise_for_status()
        return dict(answer.json())

    def wait_for_sends(self, run_id: str, expected: int, timeout: float) -> bool:
        """Polls until the carrier holds `expected` distinct (message, recipient) sends of this run, or gives up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.distinct_sends(run_id) >= expected:
                return True
            time.sleep(0.05)
        return False


# -- the bridge ---------------------------------------------------------------------------------------------------


@dataclass
class StackSettings:
    """Knobs of the deployed bridge, defaulting to the production ones (Procfile, gunicorn config, README)."""

    web_concurrency: int = int(os.environ.get("WEB_CONCURRENCY", "2"))
    web_threads: int = int(os.environ.get("WEB_THREADS", "4"))
    celery_concurrency: int = int(os.environ.get("CELERY_CONCURRENCY", "8"))
    celery_workers: int = 1
    log_level: str = "INFO"
    extra_environment: dict[str, str] = field(default_factory=dict)


@dataclass
class BridgeStack:
    processes: ProcessSet
    workdir: Path
    database_url: str
    redis_url: str
    carrier: CarrierProcess
    settings: StackSettings
    web_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))

    def __post_init__(self) -> None:
        self.api = requests.Session()
        self.api.auth = (self.account_sid, self.auth_token)
        self.web: ManagedProcess | None = None
        self.gateway: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []
        self.hooks_worker: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def gateway_url(self) -> str:
        """Where the chat SDK's twilsock connects (its `twilsock.uri`)."""
        return f"ws://127.0.0.1:{self.gateway_port}/v3/wsconnect"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(REPOSITORY),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "PORT": str(self.web_port),
            "BRIDGE_BIND": f"127.0.0.1:{self.web_port}",  # loopback only
            "PUBLIC_BASE_URL": self.url,
            "BRIDGE_INSTANCE_DIR": str(self.workdir),
            "BRIDGE_ACCOUNT_SID": self.account_sid,
            "BRIDGE_AUTH_TOKEN": self.auth_token,
            "TWILIO_ACCOUNT_SID": self.carrier.account_sid,
            "TWILIO_AUTH_TOKEN": self.carrier.auth_token,
            "TWILIO_API_BASE_URL": self.carrier.url,
            "WEB_CONCURRENCY": str(self.settings.web_concurrency),
            "WEB_THREADS": str(self.settings.web_threads),
            "CELERY_CONCURRENCY": str(self.settings.celery_concurrency),
            "LOG_LEVEL": self.settings.log_level,
            **self.settings.extra_environment,
        }

    def migrate(self) -> None:
        """The Procfile's release phase."""
        subprocess.run(
            [sys.executable, "-m", "workers.cli", "migrate"],
            cwd=REPOSITORY,
            env=self.environment(),
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )

    def start_web(self) -> None:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:webhooks.gunicorn_config",
            "webhooks:create_app()",
        ]
        self.web = self.processes.start("web", command, self.environment())
        wait_until(lambda: _http_answers(self.url + "/v1/Configuration", self.processes), START_TIMEOUT_SECONDS, "web")

    def start_gateway(self) -> None:
        """The Procfile's `gateway` process (`python -m gateway`), on loopback, with the web process's settings."""
        command = [sys.executable, "-m", "gateway", "--bind", f"127.0.0.1:{self.gateway_port}"]
        self.gateway = self.processes.start("gateway", command, self.environment())
        health = f"http://127.0.0.1:{self.gateway_port}/health"
        wait_until(lambda: _http_ok(health, self.processes), START_TIMEOUT_SECONDS, "the chat gateway")

    def start_workers(self) -> None:
        for number in range(self.settings.celery_workers):
            name = f"worker{number + 1}"
            command = [
                sys.executable, "-m", "celery", "--app", "workers.celery_app", "worker", "--pool", "threads",
                "--concurrency", str(self.settings.celery_concurrency), "--loglevel", self.settings.log_level,
                "--without-gossip", "--without-mingle",
                # Remote-control channels are Redis pub/sub, shared by every database number: a unique name
                # keeps other Celery workers on this Redis from answering for ours.
                "--hostname", f"bench-{name}-{secrets.token_hex(4)}@%h",
            ]  # fmt: skip
            managed = self.processes.start(name, command, self.environment())
            self.workers.append(managed)
        # The webhook worker, as the Procfile's `hooks` process: idle unless webhooks are configured.
        command = [
            sys.executable, "-m", "celery", "--app", "workers.celery_app", "worker", "--queues", "hooks",
            "--pool", "threads", "--concurrency", "16", "--loglevel", self.settings.log_level,
            "--without-gossip", "--without-mingle", "--hostname", f"bench-hooks-{secrets.token_hex(4)}@%h",
        ]  # fmt: skip
        self.hooks_worker = self.processes.start("hooks", command, self.environment())
        for managed in [*self.workers, self.hooks_worker]:
            wait_until(
                lambda managed=managed: self._logged(managed, "ready."), START_TIMEOUT_SECONDS, f"{managed.name}"
            )

    def start_beat(self) -> None:
        command = [
            sys.executable, "-m", "celery", "--app", "workers.celery_app", "beat",
            "--loglevel", self.settings.log_level, "--schedule", str(self.workdir / "celerybeat-schedule"),
        ]  # fmt: skip
        self.processes.start("beat", command, self.environment())

    def _logged(self, managed: ManagedProcess, text: str) -> bool:
        self.processes.check_alive()
        try:
            return text in managed.log.read_text(errors="replace")
        except OSError:
            return False

    # -- data, through the REST API -------------------------------------------------------------------------

    def add_senders(self, proxies: Sequence[str]) -> None:
        configuration = self.api.get(self.url + "/v1/Configuration", timeout=30)
        configuration.raise_for_status()
        pool = configuration.json()["default_messaging_service_sid"]
        for proxy in proxies:
            answer = self.api.post(
                f"{self.url}/messaging/v1/Services/{pool}/PhoneNumbers", data={"PhoneNumber": proxy}, timeout=30
            )
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"adding sender {proxy}: {answer.status_code} {answer.text}")

    def create_conversations(
        self, rooms: Sequence[Sequence[Pair]], identities: Sequence[Sequence[str]] | None = None
    ) -> list[str]:
        """One ConversationWithParticipants request per room (its SMS participants, then chat participants with
        `identities[room]`, as many as one request takes); the rest of the chat participants one
        `POST /v1/Conversations/{CH}/Participants` each. Returns the CH sids."""

        def create(number: int) -> str:
            participants = [
                json.dumps({"messaging_binding": {"address": pair.address, "proxy_address": pair.proxy_address}})
                for pair in rooms[number]
            ]
            chat = list(identities[number]) if identities is not None else []
            room_for = max(0, PARTICIPANTS_PER_REQUEST - len(participants))
            participants += [json.dumps({"identity": identity}) for identity in chat[:room_for]]
            answer = self.api.post(
                self.url + "/v1/ConversationWithParticipants",
                data={"FriendlyName": "bench", "Participant": participants},
                timeout=30,
            )
            if answer.status_code != 201:
                raise RuntimeError(f"creating a conversation: {answer.status_code} {answer.text}")
            sid = str(answer.json()["sid"])
            for identity in chat[room_for:]:
                added = self.api.post(
                    f"{self.url}/v1/Conversations/{sid}/Participants", data={"Identity": identity}, timeout=30
                )
                if added.status_code != 201:
                    raise RuntimeError(f"adding {identity} to {sid}: {added.status_code} {added.text}")
            return sid

        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(create, range(len(rooms))))

    def configure_post_webhook(self, url: str | None, filters: Sequence[str]) -> None:
        """The account's post-event webhook (`/v1/Configuration/Webhooks`); None turns it off."""
        answer = self.api.post(
            self.url + "/v1/Configuration/Webhooks",
            data={"PostWebhookUrl": url or "", "Filters": list(filters), "Method": "POST"},
            timeout=30,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"configuring the webhook: {answer.status_code} {answer.text}")

    # -- memory ---------------------------------------------------------------------------------------------

    def web_worker_pids(self) -> list[int]:
        return children_of(self.web.process.pid) if self.web else []

    def celery_worker_pids(self) -> list[int]:
        return [managed.process.pid for managed in self.workers]

    def hooks_worker_pids(self) -> list[int]:
        return [self.hooks_worker.process.pid] if self.hooks_worker else []

    def gateway_pids(self) -> list[int]:
        return [self.gateway.process.pid] if self.gateway else []


def _http_answers(url: str, processes: ProcessSet) -> bool:
    processes.check_alive()
    try:
        requests.get(url, timeout=1)
        return True
    except requests.RequestException:
        return False


def _http_ok(url: str, processes: ProcessSet) -> bool:
    """An answer, and a 200 one (the gateway's /health)."""
    processes.check_alive()
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class BareFlaskStack:
    """bench/bare_app.py under the production gunicorn config: the ceiling of Flask + gunicorn on this machine."""

    processes: ProcessSet
    settings: StackSettings
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        environment = {
            **os.environ,
            "PYTHONPATH": str(REPOSITORY),
            "PORT": str(self.port),
            "BRIDGE_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(self.settings.web_concurrency),
            "WEB_THREADS": str(self.settings.web_threads),
        }
        command = [
            sys.executable, "-m", "gunicorn", "--config", "python:webhooks.gunicorn_config",
            "bench.bare_app:create_app()",
        ]  # fmt: skip
        self.managed = self.processes.start("bare-flask", command, environment)
        wait_until(lambda: _http_answers(self.url + "/", self.processes), START_TIMEOUT_SECONDS, "bare Flask")

"""What the numbers were measured on, and what else was running at the time."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.kannel import kannel_version


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _postgres_version(server_url: str) -> str:
    try:
        with psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except psycopg.Error as error:
        return f"unreachable ({error.__class__.__name__})"


def _redis_version(redis_url: str) -> str:
    try:
        return str(redis.Redis.from_url(redis_url, socket_timeout=5).info("server")["redis_version"])
    except redis.RedisError as error:
        return f"unreachable ({error.__class__.__name__})"


def busiest_processes(limit: int = 8) -> list[str]:
    """The processes using the most CPU right now (ps's lifetime average), for 'what else was running'."""
    try:
        output = subprocess.run(
            ["ps", "-eo", "pid,pcpu,rss,etimes,args", "--sort=-pcpu", "--no-headers"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    others = [line for line in output.splitlines() if line.split()[0] != str(os.getpid())]  # not this benchmark
    return [line[:160] for line in others[:limit]]


def source_state() -> dict[str, Any]:
    """The commit measured, and the files that differed from it (a benchmark of a working tree says so)."""
    repository = Path(__file__).resolve().parents[1]

    def git(*arguments: str) -> str:
        try:
            return subprocess.run(
                ["git", *arguments], cwd=repository, capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "modified": git("status", "--porcelain").splitlines()}


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def describe(postgres_url: str, redis_url: str) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(_memory_gib(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": _postgres_version(postgres_url),
        "redis": _redis_version(redis_url),
        "kannel": kannel_version(),
        "gunicorn": metadata.version("gunicorn"),
        "celery": metadata.version("celery"),
        "flask": metadata.version("flask"),
        "source": source_state(),
        "load_average_at_start": load_average(),
        "busiest_processes_at_start": busiest_processes(),
    }

"""What the Prometheus metrics cost on the hot path, and what a scrape costs.

    .venv/bin/python bench/metrics_overhead.py [--messages 20000] [--processes 8]

The instrumentation of one relayed three-party message, with the very calls the bridge makes: in the web, one
inbound webhook counted and four status callbacks (two of which move a receipt to delivered); in the worker, two
carrier sends timed (workers.deliver._timed around a call that does nothing) and counted as sent. Timed in a loop,
once with the metrics in memory and once in prometheus_client's multiprocess mode (mmap'd files, as under
gunicorn and `bridge run`), each in its own interpreter (the mode is chosen when prometheus_client is imported).
Then one scrape of a multiprocess directory holding the files of `--processes` processes (copies of the files
the loop wrote, under other pids), without the delivery queue's database query (measured separately, see
docs/benchmarks.md). Prints a markdown table; never part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(messages: int, processes: int) -> dict[str, float]:
    """In this interpreter, in whatever mode its environment selected."""
    from bridge import metrics
    from workers.deliver import _timed

    def web_side() -> None:
        metrics.webhook_accepted(metrics.INBOUND, "routed")
        for moved in (False, True, False, True):  # sent (after the worker's record: ignored), then delivered
            metrics.webhook_accepted(metrics.STATUS, metrics.APPLIED if moved else metrics.IGNORED)
            if moved:
                metrics.delivery_reached("delivered", "sms")

    def worker_side() -> None:
        for _ in range(2):
            _timed(metrics.SEND, lambda: None)
            metrics.delivery_reached("sent", "sms")

    results = {}
    for name, side in (("web", web_side), ("worker", worker_side)):
        side()  # the first call creates each series (and, in multiprocess mode, its file entries)
        start = time.perf_counter()
        for _ in range(messages):
            side()
        results[f"{name}_us_per_message"] = (time.perf_counter() - start) / messages * 1e6
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        results.update(scrape_cost(Path(directory), processes))
    return results


def scrape_cost(directory: Path, processes: int) -> dict[str, float]:
    from bridge import metrics_scrape

    written = list(directory.glob("*.db"))
    for fake_pid in range(1, processes):
        for path in written:
            kind, _, _pid = path.stem.rpartition("_")
            shutil.copy(path, directory / f"{kind}_{900000 + fake_pid}.db")
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        body, _ = metrics_scrape.render(metrics_scrape.registry(), None)
        timings.append(time.perf_counter() - start)
    timings.sort()
    return {"scrape_ms": timings[len(timings) // 2] * 1000, "scrape_bytes": float(len(body))}


def run_mode(mode: str, messages: int, processes: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    workdir = tempfile.mkdtemp(prefix="bridge-metrics-bench-")
    env["BRIDGE_INSTANCE_DIR"] = workdir
    if mode == "multiprocess":
        env["PROMETHEUS_MULTIPROC_DIR"] = workdir
    try:
        command = [sys.executable, __file__, "--measure", "--messages", str(messages), "--processes", str(processes)]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=8, help="processes whose files the scrape reads")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.messages, args.processes)))
        return
    print(f"{args.messages} three-party messages' worth of instrumentation per mode\n")
    print("| mode | web: µs per message (1 inbound, 4 callbacks) | worker: µs per message (2 sends) |")
    print("| --- | --- | --- |")
    results = {mode: run_mode(mode, args.messages, args.processes) for mode in ("memory", "multiprocess")}
    for mode, numbers in results.items():
        print(f"| {mode} | {numbers['web_us_per_message']:.1f} | {numbers['worker_us_per_message']:.1f} |")
    scrape = results["multiprocess"]
    print(
        f"\nscrape of {args.processes} processes' files (multiprocess, no database query): "
        f"{scrape['scrape_ms']:.1f} ms median, {scrape['scrape_bytes'] / 1024:.1f} KiB"
    )


if __name__ == "__main__":
    main()

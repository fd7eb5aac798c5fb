"""The plot in docs/benchmarks.md: webhook-to-carrier latency (p50, p99) against offered load, bridge and Kannel.

python -m bench.plot bench/out/results.json docs/benchmarks-latency.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

STYLES = {"bridge": ("tab:blue", "the bridge"), "kannel": ("tab:orange", "Kannel")}


def plot_latency(sweep: dict[str, list[dict[str, Any]]], output: Path, title: str) -> None:
    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for system, points in sweep.items():
        if not points:
            continue
        color, label = STYLES.get(system, ("tab:gray", system))
        rates = [p["offered_per_second"] for p in points]
        label = f"{label} ({points[0]['parties']}-party)"
        axes.plot(rates, [p["send_p50"] * 1000 for p in points], "o-", color=color, label=f"{label} p50")
        axes.plot(rates, [p["send_p99"] * 1000 for p in points], "s--", color=color, label=f"{label} p99")
    axes.set_xscale("log", base=2)
    offered = sorted({p["offered_per_second"] for points in sweep.values() for p in points})
    axes.set_xticks(offered, [f"{rate:g}" for rate in offered])
    axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes.set_yscale("log")
    axes.set_xlabel("offered inbound messages per second")
    axes.set_ylabel("webhook to carrier latency (ms)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output)
    plt.close(figure)


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    machine = results.get("machine", {})
    title = f"{machine.get('nproc', '?')} cores, {machine.get('cpu', '')}, {machine.get('date', '')}"
    plot_latency(results["latency"]["sweep"], Path(sys.argv[2]), title)


if __name__ == "__main__":
    main()

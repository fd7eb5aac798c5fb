"""The dashboard's chart: deliveries by status per time bucket, as stacked bars drawn in inline SVG.

Only geometry is computed here; the template draws it and the CSS colours each status. No charting library, no
build step, and it prints and scales like text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webhooks.admin.present import CHART_ORDER, tone

WIDTH, HEIGHT = 1200, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28  # room for the value axis on the left and the time labels below
MAX_TIME_LABELS = 7


@dataclass(frozen=True)
class Segment:
    status: str
    tone: str
    y: float
    height: float
    count: int


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    total: int
    title: str  # the tooltip: when, and how many of each status
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value) for the horizontal guide lines
    labels: list[tuple[float, str]]  # (x, text) under the bars
    total: int


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (an axis that reads well)."""
    if value <= 0:
        return 4
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return max(4, step * magnitude)
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _label(start: datetime, span_hours: float) -> str:
    return start.strftime("%H:%M") if span_hours <= 24 else start.strftime("%d %b %H:%M")


def stacked_bars(buckets: list[dict[str, Any]]) -> Chart:
    """`buckets` as `bridge.admin.status_buckets` returns them: [{start, end, counts: {status: n}}, ...]."""
    plot_bottom, plot_height = HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP
    plot_width = WIDTH - LEFT - RIGHT
    totals = [sum(bucket["counts"].values()) for bucket in buckets]
    top_value = nice_ceiling(max(totals, default=0))
    scale = plot_height / top_value
    slot = plot_width / max(len(buckets), 1)
    gap = min(6.0, slot * 0.2)
    span_hours = (buckets[-1]["end"] - buckets[0]["start"]).total_seconds() / 3600 if buckets else 1
    bars, labels = [], []
    every = max(1, math.ceil(len(buckets) / MAX_TIME_LABELS))
    for n, (bucket, total) in enumerate(zip(buckets, totals, strict=True)):
        x = LEFT + n * slot + gap / 2
        y = float(plot_bottom)
        segments = []
        for status in CHART_ORDER:
            count = bucket["counts"].get(status, 0)
            if count:
                height = count * scale
                y -= height
                segments.append(Segment(status, tone(status), round(y, 2), round(height, 2), count))
        parts = ", ".join(f"{s.count} {s.status}" for s in segments) or "nothing"
        title = f"{_label(bucket['start'], span_hours)} to {bucket['end'].strftime('%H:%M')} UTC: {parts}"
        bars.append(Bar(round(x, 2), round(slot - gap, 2), total, title, segments))
        if n % every == 0:
            labels.append((round(x + (slot - gap) / 2, 2), _label(bucket["start"], span_hours)))
    ticks = [(round(plot_bottom - value * scale, 2), value) for value in (0, top_value // 2, top_value)]
    return Chart(WIDTH, HEIGHT, LEFT, TOP, plot_bottom, bars, ticks, labels, sum(totals))

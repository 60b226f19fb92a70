"""A Gantt chart of a run as SVG: one row per task, one bar per attempt, the critical path marked.

Times are seconds from the run's first start; rows are ordered by each task's first start.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from html import escape

from swarm.report.dag_svg import CRITICAL

ATTEMPT_COLOURS = {
    "succeeded": "#3a9d5d",
    "failed": "#d64545",
    "timeout": "#9b2c2c",
    "cancelled": "#e2a13a",
    "interrupted": "#8a94a6",
    "running": "#3b82c4",
}
LABEL_W, CHART_W = 190.0, 860.0
ROW_H, BAR_H, AXIS_H = 11.0, 8.0, 22.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One attempt of one task on the time axis."""

    task_id: str
    attempt: int
    start: float
    end: float
    status: str
    """The attempt's status, or ``running`` for an attempt still in flight."""


def nice_step(span: float, ticks: int = 8) -> float:
    """A round tick interval (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def render_gantt(bars: Sequence[Bar], t0: float, critical: Collection[str]) -> str:
    """An inline ``<svg>``; an empty run gets a one-line note instead of an empty chart."""
    if not bars:
        return '<p class="empty">No task has started yet.</p>'
    first: dict[str, float] = {}
    for bar in bars:
        first[bar.task_id] = min(first.get(bar.task_id, bar.start), bar.start)
    rows = sorted(first, key=lambda task: (first[task], task))
    row_of = {task: i for i, task in enumerate(rows)}
    span = max(max(bar.end for bar in bars) - t0, 1e-6)
    scale = CHART_W / span
    height = AXIS_H + len(rows) * ROW_H + 6
    width = LABEL_W + CHART_W + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" '
        'role="img" aria-label="Gantt chart of the run\'s task attempts">',
        *_axis(span, scale, height),
    ]
    for task in rows:
        y = AXIS_H + row_of[task] * ROW_H
        on_path = task in critical
        style = f' font-weight="bold" fill="{CRITICAL}"' if on_path else ' fill="#222"'
        label = task if len(task) <= 30 else task[:29] + "…"
        parts.append(
            f'<a href="#task-{escape(task)}"><text x="{LABEL_W - 6:.0f}" y="{y + BAR_H:.1f}" '
            f'font-size="9" text-anchor="end"{style}>{escape(label)}</text></a>'
        )
    for bar in bars:
        y = AXIS_H + row_of[bar.task_id] * ROW_H + (ROW_H - BAR_H) / 2
        x = LABEL_W + (bar.start - t0) * scale
        w = max(1.0, (bar.end - bar.start) * scale)
        colour = ATTEMPT_COLOURS.get(bar.status, "#8a94a6")
        outline = f' stroke="{CRITICAL}" stroke-width="1.5"' if bar.task_id in critical else ""
        tip = (
            f"{bar.task_id} attempt {bar.attempt}: {bar.status}, "
            f"{bar.start - t0:.2f}s → {bar.end - t0:.2f}s ({bar.end - bar.start:.2f}s)"
        )
        parts.append(
            f'<rect class="bar" data-status="{escape(bar.status)}" x="{x:.1f}" y="{y:.1f}" '
            f'width="{w:.1f}" height="{BAR_H:.0f}" fill="{colour}"{outline}>'
            f"<title>{escape(tip)}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _axis(span: float, scale: float, height: float) -> list[str]:
    step = nice_step(span)
    parts = ['<g class="axis" font-size="9" fill="#555">']
    for i in range(int(span / step + 1e-9) + 1):
        tick = round(i * step, 9)
        x = LABEL_W + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{AXIS_H - 4:.0f}" x2="{x:.1f}" y2="{height:.0f}" '
            'stroke="#e3e6eb"/>'
            f'<text x="{x:.1f}" y="{AXIS_H - 8:.0f}" text-anchor="middle">{_seconds(tick)}</text>'
        )
    parts.append("</g>")
    return parts


def _seconds(value: float) -> str:
    if value >= 60:
        return f"{int(value // 60)}m{value % 60:02.0f}s"
    return f"{value:g}s"

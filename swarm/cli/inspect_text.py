"""Plain-text formatting shared by the inspection commands: durations, money, events, metrics.

Everything that may hold untrusted text (goals, errors, model output) passes through
:func:`clean` before it reaches a terminal.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

from rich.console import Console

from swarm.core.money import usd

if TYPE_CHECKING:
    from swarm.runtime.metrics import RunMetrics
    from swarm.store.queries import EventRow, RunSummary

PIPE_WIDTH = 250
"""Off a terminal, tables are laid out this wide so that rows are not cut."""

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "skipped": "magenta",
    "cancelled": "yellow",
    "paused": "yellow",
    "waiting": "blue",
    "running": "cyan",
    "pending": "dim",
    "created": "dim",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str, limit: int | None = None) -> str:
    """``text`` with control characters (terminal escapes) replaced, cut to ``limit`` chars."""
    text = _CONTROL.sub("\ufffd", text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def one_line(text: str, limit: int | None = None) -> str:
    return clean(" ".join(text.split()), limit)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


money = usd
"""Dollars as every command writes them (:func:`swarm.core.money.usd`)."""


def stdout_console() -> Console:
    """Rich output on stdout: on a terminal, its width; off one (a pipe, a CI log), lines are
    never wrapped and tables are laid out :data:`PIPE_WIDTH` wide."""
    console = Console(highlight=False)
    if console.is_terminal:
        return console
    return Console(highlight=False, width=PIPE_WIDTH, soft_wrap=True)


def run_makespan(r: RunSummary) -> float | None:
    """The run's makespan as its metrics record it (active time over all its sessions, what
    `swarm resume` and `swarm show` print); while none is recorded (a live or never-ended
    run), the wall clock since it started."""
    metrics = (r.summary or {}).get("metrics")
    value = metrics.get("makespan_s") if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, int | float) else r.duration_s


def timestamp(at: float | None, *, precise: bool = False) -> str:
    if at is None:
        return "-"
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    return text + f".{int(at * 1000) % 1000:03d}" if precise else text


def event_line(e: EventRow) -> str:
    """One event as a log line: time, id, type, task and attempt, data."""
    where = ""
    if e.task_id is not None:
        where = e.task_id + ("" if e.attempt is None else f"#{e.attempt}")
    data = "" if e.data is None else json.dumps(e.data, default=str, ensure_ascii=False)
    line = f"{timestamp(e.at, precise=True)}  {e.id:>6}  {clean(e.type):<20} {where}  "
    return line + one_line(data)


def _ratio(value: float | None, suffix: str = "x") -> str:
    return "-" if value is None else f"{value:.2f}{suffix}"


def metrics_lines(r: RunSummary, m: RunMetrics) -> list[str]:
    """The run's counts, usage and metrics, as ``swarm show`` prints them."""
    c = r.counts
    efficiency = "-" if m.efficiency is None else f"{m.efficiency:.0%}"
    path = " → ".join(m.critical_path[:8]) + (" → …" if len(m.critical_path) > 8 else "")
    return [
        f"tasks {r.tasks}: {c['succeeded']} succeeded, {c['failed']} failed, "
        f"{c['skipped']} skipped, {c['cancelled']} cancelled, {c['running']} running, "
        f"{c['pending']} pending"
        + (f", {c['waiting']} waiting" if c.get("waiting") else "")
        + f"; {r.attempts} attempts",
        f"tokens {r.tokens_in:,} in / {r.tokens_out:,} out, est. cost {money(r.cost_usd)}",
        f"makespan {duration(m.makespan_s)}, serial {duration(m.serial_s)}, "
        f"speedup {_ratio(m.speedup)}",
        f"steps {m.steps_total} total, {m.steps_critical} critical (ratio {_ratio(m.steps_ratio)})",
        f"lower bound {duration(m.lower_bound_s)} = max(critical path "
        f"{duration(m.critical_path_s)}, work / {m.concurrency} slots "
        f"{duration(m.serial_s / max(m.concurrency, 1))}); efficiency {efficiency}",
        f"critical path: {path or '-'}",
        *stage_lines(m),
    ]


def stage_lines(m: RunMetrics, limit: int = 12) -> list[str]:
    """An orchestrator's stages, as the critical steps count them (Kimi's definition)."""
    if not m.stages:
        return []
    lines = ["stages (critical steps: each orchestrator's steps + its slowest sub-agent's):"]
    for s in m.stages[:limit]:
        lines.append(
            f"  {s.orchestrator} stage {s.stage}: {s.subagents} sub-agent(s), slowest "
            f"{s.slowest} ({s.slowest_steps} steps)"
        )
    if len(m.stages) > limit:
        lines.append(f"  … {len(m.stages) - limit} more")
    return lines

"""`swarm report`: one self-contained HTML file about a run, safe to hand to a colleague.

The page loads nothing (a Content-Security-Policy forbids every fetch; pictures are inline SVG,
styles inline) and runs no script. Everything from the run is escaped by Jinja2's autoescaping
or, inside the SVG, by the SVG builders: model output is untrusted. Artifact links are relative
to the report's own folder, so the report and the run folder can move together.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment
from markupsafe import Markup

from swarm.report.dag_svg import CRITICAL, STATUS_COLOURS, render_dag
from swarm.report.gantt_svg import ATTEMPT_COLOURS, Bar, render_gantt
from swarm.runtime.metrics import RunMetrics, metrics_of, task_graph
from swarm.store.queries import AttemptRow, Queries, RunDetail, TaskDetail

TEXT_LIMIT = 4000
"""Results and errors longer than this are cut in the report (``swarm export`` has them whole)."""


@dataclass(frozen=True, slots=True)
class ReportInput:
    detail: RunDetail
    attempts: list[AttemptRow]
    metrics: RunMetrics
    now: float
    simulated: bool = False
    """The run used the simulated provider: no model was called, and its cost was never paid."""


async def collect(q: Queries, run_id: str) -> ReportInput:
    """Everything the report shows, read in a few queries."""
    detail = await q.detail(run_id)
    attempts = await q.attempts(run_id)
    record = await q.store.load_run(run_id)
    simulated = record.config.get("provider", "sim") == "sim" or bool(
        (record.summary or {}).get("simulated")
    )
    return ReportInput(detail, attempts, metrics_of(detail), time.time(), simulated)


def write_report(data: ReportInput, output: Path) -> Path:
    """Render the report into ``output`` (its folder must exist); returns the absolute path."""
    target = output.expanduser().absolute()
    target.write_text(render_report(data, target.parent), encoding="utf-8")
    return target


def render_report(data: ReportInput, out_dir: Path) -> str:
    detail, metrics = data.detail, data.metrics
    critical = list(metrics.critical_path)
    graph = task_graph(detail.tasks)
    tasks = {t.task_id: t for t in detail.tasks}
    dag = render_dag(
        graph,
        {t.task_id: t.status for t in detail.tasks},
        critical,
        {t.task_id: _tooltip(t) for t in detail.tasks},
    )
    t0 = detail.run.started_at or detail.run.created_at
    gantt = render_gantt(_bars(data, tasks), t0, set(critical))
    template = _environment().from_string(
        resources.files("swarm.report").joinpath("report.html.j2").read_text("utf-8")
    )
    return template.render(
        run=detail.run,
        generated=_when(data.now),
        created=_when(detail.run.created_at),
        metrics=_metric_rows(detail, metrics, data.simulated),
        simulated=data.simulated,
        critical=critical,
        # The SVG builders escape every piece of text they place.
        dag=Markup(dag),
        gantt=Markup(gantt),
        status_colours=STATUS_COLOURS,
        attempt_colours=ATTEMPT_COLOURS,
        critical_colour=CRITICAL,
        tasks=[_task_row(t, data.attempts, set(critical)) for t in detail.tasks],
        artifacts=_artifacts(detail, out_dir),
        artifacts_dir=detail.artifacts_dir,
    )


def _environment() -> Environment:
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["seconds"] = _seconds
    return env


def _bars(data: ReportInput, tasks: dict[str, TaskDetail]) -> list[Bar]:
    bars = [Bar(a.task_id, a.attempt, a.started_at, a.finished_at, a.status) for a in data.attempts]
    end = data.detail.run.heartbeat_at or data.now
    for t in tasks.values():
        if t.status == "running" and t.started_at is not None:
            bars.append(Bar(t.task_id, t.attempts, t.started_at, max(end, t.started_at), "running"))
    return bars


def _tooltip(t: TaskDetail) -> str:
    took = "" if t.duration_s is None else f", {t.duration_s:.2f}s"
    return f"{t.task_id} [{t.kind}]: {t.status}, {t.attempts} attempt(s){took}"


def _metric_rows(detail: RunDetail, m: RunMetrics, simulated: bool) -> list[tuple[str, str, str]]:
    r = detail.run

    def ratio(value: float | None, suffix: str = "×") -> str:
        return "–" if value is None else f"{value:.2f}{suffix}"

    return [
        ("makespan", _seconds(m.makespan_s), "time the run was being driven"),
        ("serial time", _seconds(m.serial_s), "sum of all attempt durations"),
        ("speedup", ratio(m.speedup), "serial time ÷ makespan"),
        ("steps", f"{m.steps_total:,}", "model and tool calls, all tasks"),
        (
            "critical steps",
            f"{m.steps_critical:,}",
            "steps along the heaviest dependency chain"
            + (
                f"; {len(m.stages)} orchestrator stage(s), each its own steps + its slowest"
                " sub-agent's"
                if m.stages
                else ""
            ),
        ),
        *(
            (
                f"{st.orchestrator} stage {st.stage}",
                f"{st.subagents:,} sub-agent(s)",
                f"slowest {st.slowest}: {st.slowest_steps:,} critical steps",
            )
            for st in m.stages[:12]
        ),
        ("step ratio", ratio(m.steps_ratio), "steps ÷ critical steps"),
        ("critical path", _seconds(m.critical_path_s), "longest chain by task durations"),
        (
            "lower bound",
            _seconds(m.lower_bound_s),
            f"max(critical path, serial time ÷ {m.concurrency} slots)",
        ),
        (
            "efficiency",
            "–" if m.efficiency is None else f"{m.efficiency:.0%}",
            "lower bound ÷ makespan",
        ),
        ("tokens", f"{r.tokens_in:,} in / {r.tokens_out:,} out", "all attempts"),
        (
            "cost (simulated)" if simulated else "cost",
            f"${r.cost_usd:.4f}",
            "what the calls would have cost; no model was called"
            if simulated
            else "estimated from the price table",
        ),
    ]


def _task_row(t: TaskDetail, attempts: list[AttemptRow], critical: set[str]) -> dict[str, Any]:
    return {
        "id": t.task_id,
        "kind": t.kind,
        "title": t.title,
        "status": t.status,
        "attempts": t.attempts,
        "steps": t.steps,
        "tokens": t.tokens_in + t.tokens_out,
        "cost": f"${t.cost_usd:.4f}",
        "duration": _seconds(t.duration_s),
        "deps": t.deps,
        "critical": t.task_id in critical,
        "error": _cut(t.error),
        "result": _cut(t.result),
        "attempt_rows": [a for a in attempts if a.task_id == t.task_id],
    }


def _artifacts(detail: RunDetail, out_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for a in detail.artifacts:
        href = None
        if detail.artifacts_dir is not None:
            file = Path(detail.artifacts_dir) / a.path
            try:
                href = quote(Path(os.path.relpath(file, out_dir)).as_posix())
            except ValueError:  # another drive (Windows): an absolute link instead
                href = file.as_uri()
        rows.append(
            {
                "task": a.task_id,
                "kind": a.kind,
                "path": a.path,
                "size": a.size,
                "sha256": a.sha256,
                "href": href,
            }
        )
    return rows


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"\n… ({len(text) - TEXT_LIMIT:,} more characters)"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.2f}s"
    minutes, secs = divmod(value, 60)
    return f"{int(minutes)}m{secs:04.1f}s"


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))

"""Inspecting runs from any process: `swarm runs`, `show`, `events`, `artifacts`, `cancel`,
`export`.

They only read the database (``cancel`` records a request, nothing more), so they work while
another process drives the run. Text goes through rich without markup: goals, errors and
results are untrusted text, shown with control characters replaced. With ``--json`` stdout
carries JSON only (``events`` prints one JSON object per line).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from swarm.cli.app import EXIT_FAILED, app
from swarm.cli.inspect_text import (
    STATUS_STYLE,
    clean,
    duration,
    event_line,
    metrics_lines,
    money,
    run_makespan,
    stdout_console,
    timestamp,
)
from swarm.cli.options import DbOption, JsonOption, db_path, existing_db
from swarm.errors import ConfigError

if TYPE_CHECKING:
    from swarm.runtime.metrics import RunMetrics
    from swarm.store.queries import EventRow, Queries, RunDetail, RunSummary

RunIdArg = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to inspect.")]
ENDED = frozenset({"succeeded", "failed", "cancelled", "paused", "waiting"})
FOLLOW_POLL_S = 0.25


@asynccontextmanager
async def open_queries(
    db: str | Path | None, run_id: str | None = None, *, writes: bool = False
) -> AsyncIterator[Queries]:
    """Queries over an existing database; never creates one (a missing file is an input error).
    PostgreSQL is opened read-only unless the command ``writes`` (nothing migrated, every
    transaction ``READ ONLY``); SQLite as the file allows."""
    import anyio

    from swarm.store.queries import Queries
    from swarm.store.store import Store
    from swarm.store.target import is_postgres

    target = existing_db(db, run_id)
    store = await Store.open(target, read_only=True if is_postgres(target) and not writes else None)
    try:
        yield Queries(store)
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()


def check_output(path: Path) -> Path:
    """The absolute path of a file a command may write, or ConfigError (exit 2) saying why not:
    checked before the database is read, so nothing is done for an output that cannot be."""
    target = path.expanduser().absolute()
    if target.is_dir():
        raise ConfigError(
            f"cannot write {path}: it is a folder", hint=f"name a file, e.g. -o {path / 'NAME'}"
        )
    if not target.parent.is_dir():
        raise ConfigError(
            f"cannot write {path}: folder {target.parent} does not exist",
            hint="create the folder first, or write somewhere else with -o",
        )
    return target


def write_output(target: Path, text: str) -> Path:
    """Write ``text`` to ``target``; an OS refusal (permissions, a full disk) is ConfigError."""
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write {target}: {exc.strerror or exc}",
            hint="check that the folder is writable, or write somewhere else with -o",
        ) from None
    return target


def is_live(run: RunSummary, now: float | None = None) -> bool:
    """A process is driving the run: it is running, its heartbeat is fresh and, on this machine,
    its driver's process still exists (a ``kill -9``'d driver is not live, fresh beat or not)."""
    from swarm.runtime.run import LIVE_HEARTBEAT_S

    if run.status not in ("created", "running") or run.heartbeat_at is None:
        return False
    if (now or time.time()) - run.heartbeat_at >= LIVE_HEARTBEAT_S:
        return False
    return run.owner_pid is None or _process_exists(run.owner_pid)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, default=str))


# -- swarm runs -------------------------------------------------------------------------------


@app.command("runs")
def runs_command(
    db: DbOption = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List recent runs: goal, status, task counts, makespan, tokens and cost."""
    import anyio

    async def main() -> list[RunSummary]:
        async with open_queries(db) as q:
            return await q.runs(limit)

    found = anyio.run(main)
    if as_json:
        _echo_json({"runs": [_run_json(r) for r in found]})
        return
    if not found:
        typer.echo("no runs yet")
        return
    table = Table(box=None, pad_edge=False)
    for name in ("run", "created", "status", "goal", "ok/failed/all", "makespan", "tokens"):
        table.add_column(name, no_wrap=name != "goal")
    table.add_column("cost", justify="right")
    now = time.time()
    for r in found:
        status = r.status if r.status != "running" or is_live(r, now) else "running (stale)"
        table.add_row(
            Text(r.run_id),
            Text(timestamp(r.created_at)),
            Text(status, style=STATUS_STYLE.get(r.status, "")),
            Text(clean(r.goal, 60)),
            Text(f"{r.counts['succeeded']}/{r.counts['failed']}/{r.tasks}"),
            Text(duration(run_makespan(r))),
            Text(f"{r.tokens:,}"),
            Text(money(r.cost_usd)),
        )
    stdout_console().print(table)


def _run_json(r: RunSummary) -> dict[str, Any]:
    out = asdict(r)
    out["tokens"] = r.tokens
    out["makespan_s"] = run_makespan(r)
    out["live"] = is_live(r)
    return out


# -- swarm show -------------------------------------------------------------------------------


@app.command("show")
def show_command(
    run_id: RunIdArg,
    db: DbOption = None,
    tree: Annotated[bool, typer.Option(help="Draw the DAG as a tree with statuses.")] = True,
    as_json: JsonOption = False,
) -> None:
    """A run's tasks (status, attempts, steps, tokens, cost, duration), metrics and DAG."""
    import anyio

    async def main() -> RunDetail:
        async with open_queries(db, run_id) as q:
            return await q.detail(run_id)

    from swarm.runtime.metrics import metrics_of

    detail = anyio.run(main)
    metrics = metrics_of(detail)
    critical = set(metrics.critical_path)
    if as_json:
        tasks = []
        for t in detail.tasks:
            row = asdict(t)
            row.pop("result")
            row["duration_s"] = t.duration_s
            row["critical"] = t.task_id in critical
            tasks.append(row)
        _echo_json({"run": _run_json(detail.run), "metrics": metrics.as_dict(), "tasks": tasks})
        return
    console = stdout_console()
    _print_header(console, detail, metrics)
    table = Table(box=None, pad_edge=False)
    for name in ("", "task", "kind", "status", "attempts", "steps", "tokens", "cost", "duration"):
        table.add_column(name, no_wrap=True, justify="right" if name == "cost" else "left")
    table.add_column("error")
    for t in detail.tasks:
        table.add_row(
            Text("*" if t.task_id in critical else " ", style="bold yellow"),
            Text(t.task_id),
            Text(t.kind),
            Text(t.status, style=STATUS_STYLE.get(t.status, "")),
            Text(str(t.attempts)),
            Text(str(t.steps)),
            Text(f"{t.tokens_in + t.tokens_out:,}"),
            Text(money(t.cost_usd)),
            Text(duration(t.duration_s)),
            Text(clean(t.error or "", 80), style="red"),
        )
    console.print(table)
    if tree:
        console.print(Text("\nDAG (* = on the critical path)", style="bold"))
        console.print(Text(_tree(detail, critical)))


def _print_header(console: Any, detail: RunDetail, metrics: RunMetrics) -> None:
    r = detail.run
    head = Text(f"run {r.run_id}  ", style="bold")
    head.append(r.status, style=STATUS_STYLE.get(r.status, ""))
    if r.cancel_requested_at is not None and r.status not in ENDED:
        head.append("  (cancel requested)", style="yellow")
    console.print(head)
    console.print(Text(f"goal: {clean(r.goal, 200)}"))
    for line in metrics_lines(r, metrics):
        console.print(Text(line))
    console.print()


def _tree(detail: RunDetail, critical: set[str]) -> str:
    from swarm.dag import render_tree
    from swarm.runtime.metrics import task_graph

    graph = task_graph(detail.tasks)
    labels = {
        t.task_id: f"{'* ' if t.task_id in critical else ''}{t.task_id} [{t.kind}] {t.status}"
        for t in detail.tasks
    }
    return render_tree(graph, labels)


# -- swarm events -----------------------------------------------------------------------------


@app.command("events")
def events_command(
    run_id: RunIdArg,
    db: DbOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until the run ends.")
    ] = False,
    after: Annotated[int, typer.Option(min=0, help="Only events with a larger id.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """The run's event log, oldest first; --follow tails a live run from any process.

    With --json, one JSON object per line.
    """
    import anyio

    def emit(rows: list[EventRow]) -> None:
        for e in rows:
            typer.echo(json.dumps(asdict(e), default=str) if as_json else event_line(e))
        sys.stdout.flush()

    anyio.run(_events, db, run_id, after, follow, emit)


async def _events(
    db: str | Path | None,
    run_id: str,
    after: int,
    follow: bool,
    emit: Callable[[list[EventRow]], None],
) -> None:
    import anyio

    async with open_queries(db, run_id) as q:
        run = await q.run(run_id)
        last = after
        while True:
            rows = await q.events(run_id, after_id=last)
            emit(rows)
            if rows:
                last = rows[-1].id
            if not follow or (run.status in ENDED and not rows):
                return
            await anyio.sleep(FOLLOW_POLL_S if not rows else 0)
            # The status is read before the events: once it shows the end, the next read of the
            # events holds everything up to the run's last event.
            run = await q.run(run_id)


# -- swarm artifacts --------------------------------------------------------------------------


@app.command("artifacts")
def artifacts_command(run_id: RunIdArg, db: DbOption = None, as_json: JsonOption = False) -> None:
    """The files the run's tasks wrote, with their paths on disk."""
    import anyio

    async def main() -> RunDetail:
        async with open_queries(db, run_id) as q:
            return await q.detail(run_id)

    detail = anyio.run(main)
    folder = detail.artifacts_dir
    rows = [
        {**asdict(a), "file": None if folder is None else str(Path(folder) / a.path)}
        for a in detail.artifacts
    ]
    if as_json:
        _echo_json({"run_id": run_id, "folder": folder, "artifacts": rows})
        return
    if not rows:
        typer.echo(f"run {run_id} has no artifacts")
        return
    table = Table(box=None, pad_edge=False)
    for name in ("task", "kind", "size", "sha256", "file"):
        table.add_column(name, no_wrap=name != "file")
    for row in rows:
        table.add_row(
            Text(row["task_id"]),
            Text(row["kind"]),
            Text(f"{row['size']:,}"),
            Text(row["sha256"][:12]),
            Text(clean(row["file"] or row["path"])),
        )
    stdout_console().print(table)


# -- swarm cancel -----------------------------------------------------------------------------


CancelRunId = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to cancel.")]


@app.command("cancel")
def cancel_command(
    run_id: CancelRunId,
    db: DbOption = None,
    wait: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds to wait for the run to stop (0: do not wait); exits 1 if it has not.",
        ),
    ] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Ask the process driving a run to cancel it; the run stays resumable.

    A run no live process drives (its driver was killed) cannot be stopped: it already is; the
    request is recorded and `swarm resume RUN_ID` continues the run.
    """
    import anyio

    out = anyio.run(_cancel, db, run_id, wait)
    if as_json:
        _echo_json(out)
    else:
        typer.echo(_cancel_text(out))
    if wait and out["requested"] and out["status"] not in ENDED:
        raise typer.Exit(EXIT_FAILED)


async def _cancel(db: str | Path | None, run_id: str, wait: float) -> dict[str, Any]:
    import anyio

    async with open_queries(db, run_id, writes=True) as q:
        run = await q.run(run_id)
        if run.status in ENDED:
            return {"run_id": run_id, "status": run.status, "requested": False}
        live = is_live(run)
        await q.store.request_cancel(run_id)
        if wait and live:
            with anyio.move_on_after(wait):
                while run.status not in ENDED and is_live(run):
                    await anyio.sleep(FOLLOW_POLL_S)
                    run = await q.run(run_id)
        # live: a driver had the run when the request was made; driving: one still has it
        driving = run.status not in ENDED and is_live(run)
        return {
            "run_id": run_id,
            "status": run.status,
            "requested": True,
            "live": live,
            "driving": driving,
        }


def _cancel_text(out: dict[str, Any]) -> str:
    run_id, status = out["run_id"], out["status"]
    if not out["requested"]:
        return f"run {run_id} already ended: {status}"
    if status in ENDED:
        return f"run {run_id} {status}"
    if out["driving"]:
        return f"cancel requested: the process driving run {run_id} will stop it shortly"
    return (
        f"cancel requested, but no live process is driving run {run_id} (status {status}: its "
        f"driver stopped without ending it, e.g. killed); there is nothing to stop. "
        f"`swarm resume {run_id}` continues the run"
    )


# -- swarm export -----------------------------------------------------------------------------


@app.command("export")
def export_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to export.")],
    db: DbOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    as_json: JsonOption = False,
    format_: Annotated[
        str, typer.Option("--format", help="json (the run's records) or otlp (its trace).")
    ] = "json",
    endpoint: Annotated[
        str | None, typer.Option(help="With --format otlp: send to this OTLP/HTTP URL.")
    ] = None,
    sqlite: Annotated[
        Path | None,
        typer.Option(
            "--sqlite",
            metavar="FILE",
            help="Copy the run, every row, into this SQLite file (for swarm dashboard).",
        ),
    ] = None,
) -> None:
    """The whole run as one JSON document: run, plan, metrics, tasks, attempts, steps, events,
    artifacts (--json is accepted; the output is always JSON). --format otlp: the run's
    OpenTelemetry trace instead, as OTLP/JSON or sent to --endpoint. --sqlite FILE: the run
    copied into a SQLite file instead (from PostgreSQL, for the dashboard)."""
    if sqlite is not None:
        return _export_sqlite(run_id, db, sqlite, as_json)
    target = None if output is None else check_output(output)
    if format_ != "json" or endpoint is not None:
        from swarm.cli.export_otlp import export_trace

        return export_trace(open_queries(db, run_id), run_id, target, as_json, format_, endpoint)
    import anyio

    async def main() -> dict[str, Any]:
        async with open_queries(db, run_id) as q:
            return await export_run(q, run_id)

    text = json.dumps(anyio.run(main), default=str, indent=1)
    if target is None:
        typer.echo(text)
    else:
        write_output(target, text + "\n")
        if not as_json:
            typer.echo(f"wrote {output}", err=True)


def _export_sqlite(run_id: str, db: str | None, file: Path, as_json: bool) -> None:
    import anyio

    from swarm.cli.db_cmds import copy_between

    copied = anyio.run(copy_between, db_path(db), db_path(str(file)), [run_id])
    if as_json:
        typer.echo(json.dumps({"run_id": run_id, "sqlite": str(file), "rows": copied.rows}))
    else:
        typer.echo(f"wrote run {run_id} into {file} ({sum(copied.rows.values())} rows)", err=True)


async def export_run(q: Queries, run_id: str) -> dict[str, Any]:
    """Everything the database holds about one run, as JSON-able data."""
    from swarm.runtime.metrics import metrics_of

    detail = await q.detail(run_id)
    record = await q.store.load_run(run_id)
    return {
        "format": "swarm-run-export/1",
        "run": _run_json(detail.run),
        "config": record.config,
        "plan": json.loads(record.plan_json),
        "metrics": metrics_of(detail).as_dict(),
        "artifacts_dir": detail.artifacts_dir,
        "tasks": [{**asdict(t), "duration_s": t.duration_s} for t in detail.tasks],
        "attempts": [asdict(a) for a in await q.attempts(run_id)],
        "steps": [asdict(s) for s in await q.steps(run_id)],
        "events": [asdict(e) for e in await q.events(run_id)],
        "artifacts": [asdict(a) for a in detail.artifacts],
    }

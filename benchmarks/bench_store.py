"""Store benchmark: the same runs on SQLite and on a local PostgreSQL, side by side in one run.

    python benchmarks/bench_store.py            # full run, writes its section of docs/benchmarks.md
    python benchmarks/bench_store.py --quick    # smaller, prints only

For each backend, in alternating order so drift on a shared machine hits both alike:
- durable tasks/s: a 10,000-task random DAG of no-op model calls (sim provider, zero latency)
  at concurrency 64 through the whole stack, and the commits the run's writer made;
- efficiency: a 1,000-task random DAG with lognormal latency at concurrency 300 against its
  lower bound max(critical path, work ÷ concurrency), from the durations the run drew;
- the cost of one commit: 1,000 one-event transactions, one after another (the writer's floor,
  where PostgreSQL pays a round trip per statement and the server's WAL flush).

PostgreSQL is a throwaway server from ``swarm.testing.postgres`` on 127.0.0.1 with its default
durability (``fsync=on``, ``synchronous_commit=on``), and a second database with
``synchronous_commit=off``, which, like SQLite's ``synchronous=NORMAL`` in WAL mode, survives
any crash of the driver and may lose the last moments of commits if the machine itself fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scheduler import lower_bound, random_dag, write_section  # noqa: E402

from swarm.plan import Plan  # noqa: E402
from swarm.providers.sim import Latency, SimProvider  # noqa: E402
from swarm.runtime import run as runs  # noqa: E402
from swarm.store.ops import Event, Op  # noqa: E402
from swarm.store.schema import steps  # noqa: E402
from swarm.store.store import Store  # noqa: E402
from swarm.store.writer import Writer  # noqa: E402
from swarm.testing import postgres  # noqa: E402
from tests.store.builders import new_run  # noqa: E402

HEADING = "## Store backends: SQLite and PostgreSQL (issue 21)"


class Counting(Store):
    """A store that remembers the writers it made (to count their commits)."""

    made: list[Writer]

    def writer(self, *args: Any, **kwargs: Any) -> Writer:
        made = super().writer(*args, **kwargs)
        self.made.append(made)
        return made


async def _open(db: str | Path) -> Counting:
    store = await Store.open(db)
    store.__class__ = Counting
    assert isinstance(store, Counting)
    store.made = []
    return store


async def run_plan(db: str | Path, plan: Plan, latency: Latency) -> dict[str, Any]:
    store = await _open(db)
    try:
        started = time.perf_counter()
        summary = await runs.execute(
            store, plan, SimProvider(latency=latency), runs.RunOptions(), run_id="bench"
        )
        wall = time.perf_counter() - started
        assert summary["status"] == "succeeded", summary
        async with store.engine.connect() as conn:
            found = await conn.execute(
                select(steps.c.task_id, steps.c.latency_s).where(steps.c.run_id == "bench")
            )
            durations = {row.task_id: row.latency_s for row in found}
    finally:
        await store.close()
    commits = sum(w.transactions for w in store.made)
    return {"wall_s": wall, "commits": commits, "durations": durations}


async def commit_cost(db: str | Path, n: int) -> float:
    """Milliseconds per one-event commit, ``n`` in a row."""
    store = await Store.open(db)
    try:
        await store.create_run(new_run(n_tasks=1))
        writer = store.writer(lambda _: None)
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            started = time.perf_counter()
            for i in range(n):
                op: Op = Event("r1", "bench.tick", float(i))
                writer.submit(op)
                await writer.flush()
            elapsed = time.perf_counter() - started
            writer.close()
    finally:
        await store.close()
    return elapsed / n * 1000


async def round_trip(url: str, n: int) -> float:
    """Milliseconds per ``SELECT 1`` on one asyncpg connection: the network's share."""
    from swarm.store.pg_writer import connect

    conn = await connect(url)
    try:
        started = time.perf_counter()
        for _ in range(n):
            await conn.fetchval("SELECT 1")
        return (time.perf_counter() - started) / n * 1000
    finally:
        await conn.close()


def measure(
    backends: dict[str, Any], n_noop: int, n_eff: int, reps: int, latency: Latency
) -> dict[str, dict[str, Any]]:
    """Every figure per backend; ``backends`` maps a name to a function giving a fresh db."""
    out: dict[str, dict[str, Any]] = {name: {"rates": [], "commits": []} for name in backends}
    order = list(backends)
    for rep in range(reps):
        for name in order if rep % 2 == 0 else reversed(order):
            plan = random_dag(n_noop, seed=rep, concurrency=64)
            got = anyio.run(run_plan, backends[name](), plan, Latency())
            out[name]["rates"].append(n_noop / got["wall_s"])
            out[name]["commits"].append(got["commits"])
    for name in order:
        plan = random_dag(n_eff, seed=7, concurrency=300)
        got = anyio.run(run_plan, backends[name](), plan, latency)
        bound = lower_bound(plan, got["durations"], 300)
        out[name].update(
            makespan_s=got["wall_s"], lower_bound_s=bound, efficiency=bound / got["wall_s"]
        )
        db = backends[name]()
        out[name]["commit_ms"] = anyio.run(commit_cost, db, 1000)
        out[name]["round_trip_ms"] = anyio.run(round_trip, db, 1000) if isinstance(db, str) else 0
        out[name]["tasks_per_s"] = statistics.median(out[name]["rates"])
    return out


def render(results: dict[str, dict[str, Any]], n_noop: int, reps: int, latency: str) -> str:
    base = results["SQLite"]["tasks_per_s"]
    lines = [
        HEADING,
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, PostgreSQL {results.get('_version', '?')} on 127.0.0.1 "
        "(a throwaway server, `swarm.testing.postgres`); a shared 2-core machine with other "
        "work running, so absolute figures are noisy; the backends ran side by side, "
        "alternating, in one run. Command: `python benchmarks/bench_store.py`.",
        "",
        f"| backend | tasks/s ({n_noop:,} no-op, c64, median of {reps}) | vs SQLite "
        "| commits per run | ms per commit | ms per round trip | efficiency (1,000 lognormal, "
        "c300) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        if name.startswith("_"):
            continue
        lines.append(
            f"| {name} | {r['tasks_per_s']:,.0f} | {r['tasks_per_s'] / base:.2f} | "
            f"{statistics.median(r['commits']):,.0f} | {r['commit_ms']:.3f} | "
            f"{r['round_trip_ms'] or '–'!s:.5} | {r['efficiency']:.3f} |"
        )
    lines += [
        "",
        f"Efficiency = lower bound ÷ makespan (latency `{latency}`). *ms per commit*: one "
        "event per transaction, 1,000 in a row: SQLite's is a local write to the WAL without "
        "fsync; PostgreSQL's is four round trips (`BEGIN`, the guard, the insert, `COMMIT`) "
        "over TCP to a local server plus, with `synchronous_commit=on`, the server's WAL flush. "
        "*ms per round trip*: a `SELECT 1` on the writer's kind of connection. A commit of a "
        "wave at c64 makes about eight (begin, guard, starts, results, attempts, steps, events, "
        "commit), whatever the number of rows: each statement carries all its rows at once. "
        "Group commit hides most of it: at c64 a commit carries a wave of results and starts, "
        "so the per-task cost is the commit's cost divided by the tasks in it.",
        "",
        "Why PostgreSQL is slower here: every commit pays round trips over TCP (about eight for "
        "a wave) where SQLite's is a function call into a file, and with "
        "`synchronous_commit=on` the server flushes its WAL to disk at each commit, which "
        "SQLite's `synchronous=NORMAL` does not. Group commit keeps the number of commits the "
        "same on both (the column above), so the gap is the cost of each. At concurrency 300 "
        "with lognormal latencies that cost delays the dispatch of released dependents, which "
        "is what efficiency measures. Figures on this shared, loaded machine move by ±30% "
        "between runs (an earlier run of the same command: 1,395 / 971 / 951 tasks/s, "
        "efficiency 0.923 / 0.712 / 0.752): compare the rows of one run, not runs.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, print only")
    parser.add_argument("--latency", default="lognormal:0.05,0.5")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    n_noop, n_eff, reps = (2_000, 300, 1) if args.quick else (10_000, 1_000, 3)
    count = iter(range(1_000_000))
    with tempfile.TemporaryDirectory() as d, postgres.running(fast=False) as server:
        tmp = Path(d)

        def sqlite_db() -> Path:
            return tmp / f"s{next(count)}.db"

        def pg_db(sync: str) -> str:
            name = f"b{next(count)}"
            url = server.create_database(name)
            server.psql(f"ALTER DATABASE {name} SET synchronous_commit = {sync}")
            return url

        backends = {
            "SQLite": sqlite_db,
            "PostgreSQL": lambda: pg_db("on"),
            "PostgreSQL, synchronous_commit=off": lambda: pg_db("off"),
        }
        results: dict[str, Any] = measure(
            backends, n_noop, n_eff, reps, Latency.parse(args.latency)
        )
        results["_version"] = server.psql("SHOW server_version").strip()
    for r in results.values():
        if isinstance(r, dict):
            r.pop("durations", None)
    print(json.dumps(results, indent=1))
    if not args.quick:
        write_section(Path(args.out), HEADING, render(results, n_noop, reps, args.latency))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

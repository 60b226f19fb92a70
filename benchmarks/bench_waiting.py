"""Approvals benchmark: how soon a live run applies a decision or a cancel made in another
process, on SQLite (polled) and on PostgreSQL (LISTEN/NOTIFY), and how fast a run gets through
many gates decided at once.

    python benchmarks/bench_waiting.py       # both backends: 20 gates, 5 cancels, 500 in bulk
    python benchmarks/bench_waiting.py --backends sqlite --gates 50 --bulk 2000

**latency**: a real ``swarm execute --wait-approvals`` (sim provider, no latency) of a plan of
``--gates`` independent gated tasks; this process approves them one at a time through
:class:`swarm.Swarm` (another process, another connection) and waits, after each, for the
driver's ``task.woken`` event. Per decision: seconds from ``approvals.decided_at`` to the woken
event's ``at``. SQLite: the driver polls every 0.5 s (0 to 0.5 s plus a commit); PostgreSQL:
the decision's transaction notifies, the driver's listener wakes its poll at once.

**cancel**: ``--cancels`` times, a fresh ``swarm execute --wait-approvals`` of one gated task
is cancelled from this process once it waits (``Store.request_cancel``, what ``swarm cancel``
does): seconds from ``runs.cancel_requested_at`` to the run's ``finished_at``.

**bulk**: the same with ``--bulk`` gates, all approved back to back by this process while the
run waits: decisions per second (each one compare-and-set transaction, contending with the
driver's writer), and seconds from the last decision to the run's end.

PostgreSQL is a throwaway local server (:mod:`swarm.testing.postgres`, 127.0.0.1). The backends
run one after the other on a shared machine: wall times, not a controlled measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from swarm import Swarm

Db = Path | str
"""A SQLite file or a PostgreSQL URL."""


def plan(gates: int) -> dict[str, Any]:
    tasks = [
        {"id": f"g{i:04d}", "kind": "llm", "prompt": f"gated {i}", "approval": True}
        for i in range(gates)
    ]
    return {"goal": "many gates", "budget": {"max_concurrency": 64}, "tasks": tasks}


async def rows(db: Db, sql: str) -> list[tuple[Any, ...]]:
    """``sql``'s rows, read behind swarm's back ([] while the tables do not exist yet)."""
    if isinstance(db, Path):
        try:
            with sqlite3.connect(db, timeout=30) as conn:
                return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []
    import asyncpg

    conn = await asyncpg.connect(db)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


def launch(folder: Path, db: Db, gates: int) -> subprocess.Popen[str]:
    """``swarm execute --wait-approvals`` of ``gates`` gated tasks, in another process."""
    file = folder / f"plan{gates}.json"
    file.write_text(json.dumps(plan(gates)))
    env = {k: v for k, v in os.environ.items() if k not in ("SWARM_DB", "SWARM_PROVIDER")}
    env.update(SWARM_SIM_LATENCY="0", SWARM_SIM_FAULTS="")
    args = ["execute", str(file), "--db", str(db), "--run-id", "r", "--wait-approvals", "--json"]
    args += ["--provider", "sim", "--artifacts-dir", str(folder / "runs")]
    return subprocess.Popen(
        [sys.executable, "-m", "swarm.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def start(folder: Path, db: Db, gates: int) -> subprocess.Popen[str]:
    """:func:`launch`, once the run waits at all its gates."""
    proc = launch(folder, db, gates)
    deadline = time.monotonic() + 120
    while await rows(db, "SELECT count(*) FROM approvals") != [(gates,)]:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the run did not reach its gates: {proc.communicate()}")
        await anyio.sleep(0.05)
    await anyio.sleep(0.5)  # the driver's listener (PostgreSQL) is up by now
    return proc


async def latency(folder: Path, db: Db, gates: int) -> list[float]:
    proc = await start(folder, db, gates)
    out = []
    async with Swarm(db) as sw:
        for i in range(gates):
            task = f"g{i:04d}"
            await sw.approve("r", task, by="bench")
            woken: list[tuple[Any, ...]] = []
            while not woken:
                await anyio.sleep(0.01)
                woken = await rows(
                    db, f"SELECT at FROM events WHERE type='task.woken' AND task_id='{task}'"
                )
            [(decided,)] = await rows(
                db, f"SELECT decided_at FROM approvals WHERE task_id='{task}'"
            )
            out.append(woken[0][0] - decided)
    proc.communicate(timeout=120)
    return out


async def cancel(folder: Path, db: Db) -> float:
    proc = await start(folder, db, 1)
    async with Swarm(db) as sw:
        await (await sw.store()).request_cancel("r")
    proc.communicate(timeout=120)
    [(asked, ended)] = await rows(db, "SELECT cancel_requested_at, finished_at FROM runs")
    return float(ended - asked)


async def bulk(folder: Path, db: Db, gates: int) -> tuple[float, float]:
    proc = await start(folder, db, gates)
    async with Swarm(db) as sw:
        began = time.monotonic()
        for i in range(gates):
            await sw.approve("r", f"g{i:04d}", by="bench")
        decided = time.monotonic()
    out, _ = await anyio.to_thread.run_sync(lambda: proc.communicate(timeout=300))
    ended = time.monotonic()
    assert json.loads(out)["status"] == "succeeded", out
    return gates / (decided - began), ended - decided


@contextmanager
def databases(backend: str, folder: Path) -> Iterator[Iterator[Db]]:
    """A fresh database per measurement: SQLite files, or databases on one local server."""
    if backend == "sqlite":
        yield (folder / f"s{n}.db" for n in range(1_000_000))
        return
    from swarm.testing import postgres

    with postgres.running(fast=False) as server:
        yield (server.create_database(f"bench_{n}") for n in range(1_000_000))


def spread(values: list[float]) -> str:
    p95 = max(values)
    if len(values) > 1:
        p95 = statistics.quantiles(values, n=20, method="inclusive")[-1]
    return f"median {statistics.median(values):.3f} s, p95 {p95:.3f} s, max {max(values):.3f} s"


def measure(backend: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-waiting-") as tmp:
        folder = Path(tmp)
        with databases(backend, folder) as fresh:
            lat = anyio.run(latency, folder, next(fresh), args.gates)
            cancels = [anyio.run(cancel, folder, next(fresh)) for _ in range(args.cancels)]
            rate, tail = anyio.run(bulk, folder, next(fresh), args.bulk) if args.bulk else (0, 0)
    print(f"{backend}: decision in another process -> woken, {len(lat)} decisions:")
    print(f"  {spread(lat)}")
    print(f"{backend}: cancel in another process -> run ended, {len(cancels)} runs:")
    print(f"  {spread(cancels)}")
    if args.bulk:
        print(f"{backend}: {args.bulk} decisions at {rate:.0f}/s; run ended {tail:.2f} s after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--gates", type=int, default=20)
    parser.add_argument("--cancels", type=int, default=5)
    parser.add_argument("--bulk", type=int, default=500)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        measure(backend, args)


if __name__ == "__main__":
    main()

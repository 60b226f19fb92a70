"""Approvals benchmark: how soon a live run applies a decision made in another process, and
how fast a run gets through many gates decided at once.

    python benchmarks/bench_waiting.py                 # 20 gates for latency, 500 in bulk
    python benchmarks/bench_waiting.py --gates 50 --bulk 2000

**latency**: a real ``swarm execute --wait-approvals`` (sim provider, no latency) of a plan of
``--gates`` independent gated tasks; this process approves them one at a time through
:class:`swarm.Swarm` (another process, another connection) and waits, after each, for the
driver's ``task.woken`` event. Per decision: seconds from ``approvals.decided_at`` to the woken
event's ``at`` (the driver polls every 0.5 s, so 0 to 0.5 s plus a commit).

**bulk**: the same with ``--bulk`` gates, all approved back to back by this process while the
run waits: decisions per second (each one ``BEGIN IMMEDIATE`` compare-and-set, contending
with the driver's writer), and seconds from the last decision to the run's end.

Both run one after the other on a shared machine: wall times, not a controlled measurement.
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
from pathlib import Path
from typing import Any

import anyio

from swarm import Swarm


def plan(gates: int) -> dict[str, Any]:
    tasks = [
        {"id": f"g{i:04d}", "kind": "llm", "prompt": f"gated {i}", "approval": True}
        for i in range(gates)
    ]
    return {"goal": "many gates", "budget": {"max_concurrency": 64}, "tasks": tasks}


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def start(folder: Path, gates: int) -> tuple[subprocess.Popen[str], Path]:
    file, db = folder / f"plan{gates}.json", folder / f"s{gates}.db"
    file.write_text(json.dumps(plan(gates)))
    env = {k: v for k, v in os.environ.items() if k not in ("SWARM_DB", "SWARM_PROVIDER")}
    env.update(SWARM_SIM_LATENCY="0", SWARM_SIM_FAULTS="")
    args = ["execute", str(file), "--db", str(db), "--run-id", "r", "--wait-approvals", "--json"]
    args += ["--provider", "sim", "--artifacts-dir", str(folder / "runs")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "swarm.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while rows(db, "SELECT count(*) FROM approvals") != [(gates,)]:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the run did not reach its gates: {proc.communicate()}")
        time.sleep(0.05)
    return proc, db


async def latency(folder: Path, gates: int) -> list[float]:
    proc, db = start(folder, gates)
    out = []
    async with Swarm(db) as sw:
        for i in range(gates):
            task = f"g{i:04d}"
            await sw.approve("r", task, by="bench")
            woken: list[tuple[Any, ...]] = []
            while not woken:
                await anyio.sleep(0.01)
                woken = rows(
                    db, f"SELECT at FROM events WHERE type='task.woken' AND task_id='{task}'"
                )
            [(decided,)] = rows(db, f"SELECT decided_at FROM approvals WHERE task_id='{task}'")
            out.append(woken[0][0] - decided)
    proc.communicate(timeout=120)
    return out


async def bulk(folder: Path, gates: int) -> tuple[float, float]:
    proc, db = start(folder, gates)
    async with Swarm(db) as sw:
        began = time.monotonic()
        for i in range(gates):
            await sw.approve("r", f"g{i:04d}", by="bench")
        decided = time.monotonic()
    out, _ = proc.communicate(timeout=300)
    ended = time.monotonic()
    assert json.loads(out)["status"] == "succeeded", out
    return gates / (decided - began), ended - decided


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gates", type=int, default=20)
    parser.add_argument("--bulk", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-waiting-") as tmp:
        folder = Path(tmp)
        lat = anyio.run(latency, folder, args.gates)
        rate, tail = anyio.run(bulk, folder, args.bulk)
    q = statistics.quantiles(lat, n=20)
    print(f"decision -> woken, {len(lat)} decisions from another process:")
    print(f"  median {statistics.median(lat):.3f} s, p95 {q[-1]:.3f} s, max {max(lat):.3f} s")
    print(f"bulk: {args.bulk} decisions at {rate:.0f}/s; run ended {tail:.2f} s after the last")


if __name__ == "__main__":
    main()

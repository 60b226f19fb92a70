"""The kill -9 harness of the reliability suite (fault F1): a real ``swarm execute`` on the sim
provider, whose call ledger counts every execution, killed with SIGKILL at a seeded random
moment, then ``swarm resume``; and what the ledger and the database say about it.

``tests/runtime/test_crash_resume.py`` asserts the pass criteria on each :class:`Recovery`;
``benchmarks/bench_recovery.py`` tallies the figures over many seeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_ID = "r"


def fan_plan(width: int = 50) -> dict[str, object]:
    """A root, ``width`` parallel parts, five joins of a fifth of them each, and a final task."""
    tasks: list[dict[str, object]] = [{"id": "root", "kind": "llm", "prompt": "Split the work."}]
    for i in range(width):
        tasks.append({"id": f"w{i:02d}", "kind": "llm", "prompt": f"Part {i}.", "deps": ["root"]})
    groups = [f"j{g}" for g in range(5)]
    for g, gid in enumerate(groups):
        deps = [f"w{i:02d}" for i in range(width) if i % 5 == g]
        tasks.append({"id": gid, "kind": "llm", "prompt": f"Join group {g}.", "deps": deps})
    tasks.append({"id": "final", "kind": "llm", "prompt": "Write it up.", "deps": groups})
    return {"goal": "fan out and in", "budget": {"max_concurrency": 8}, "tasks": tasks}


def swarm(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``python -m swarm.cli ARGS`` as a child process, its output piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "swarm.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def env_for(ledger: Path) -> dict[str, str]:
    """The sim provider with 50 ms calls, no faults, and every call appended to ``ledger``."""
    env = dict(os.environ)
    env.update(SWARM_SIM_LATENCY="fixed:0.05", SWARM_SIM_LEDGER=str(ledger), SWARM_SIM_FAULTS="")
    for name in ("SWARM_PROVIDER", "SWARM_DB", "REPLICATE_API_TOKEN"):
        env.pop(name, None)
    return env


Db = Path | str
"""A SQLite file, or a ``postgresql://`` URL: the harness reads either behind swarm's back."""


def query(db: Db, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) from the database, read as another process would."""
    if isinstance(db, Path):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return conn.execute(sql, params).fetchall()
    from swarm.store.pg_sql import dollar

    async def fetch() -> list[tuple[Any, ...]]:
        import asyncpg

        conn = await asyncpg.connect(db)
        try:
            return [tuple(row) for row in await conn.fetch(dollar(sql), *params)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def results(db: Db, run_id: str) -> dict[str, str]:
    """Task → result of every succeeded task."""
    sql = "SELECT task_id, result FROM tasks WHERE run_id = ? AND status = 'succeeded'"
    return dict(query(db, sql, run_id))


def ledger_counts(ledger: Path) -> Counter[str]:
    """Task → how many model calls it made (the ledger's keys are ``run/task/attempt/step``)."""
    counts: Counter[str] = Counter()
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            key = json.loads(line)["key"]
            counts[key.split("/")[1]] += 1
    return counts


def run_ids(db: Db) -> set[str]:
    if isinstance(db, Path) and not db.exists():
        return set()
    try:
        return {row[0] for row in query(db, "SELECT run_id FROM runs")}
    except Exception:  # no tables yet (sqlite3's or asyncpg's error): no run yet
        return set()


def wait_for_run(db: Db, proc: subprocess.Popen[str], timeout_s: float = 30.0) -> None:
    """Until the run is recorded in ``db`` (or the process ended, or ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if RUN_ID in run_ids(db):
            return
        time.sleep(0.005)


@dataclass(frozen=True)
class Reference:
    """An uninterrupted run of the plan: what every resumed run must end with."""

    plan: Path
    results: dict[str, str]
    makespan_s: float


def run_reference(tmp: Path, plan_data: dict[str, object] | None = None) -> Reference:
    """Run ``plan_data`` (:func:`fan_plan` if not given) without interruption."""
    plan = tmp / "plan.json"
    plan.write_text(json.dumps(plan_data or fan_plan()))
    db = tmp / "ref.db"
    proc = swarm(
        ["execute", str(plan), "--db", str(db), "--run-id", "ref", "--json"],
        env_for(tmp / "ref.ledger"),
    )
    out, err = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"the reference run failed: {err}")
    return Reference(plan, results(db, "ref"), float(json.loads(out)["makespan_s"]))


@dataclass(frozen=True)
class Recovery:
    """One seed: what was true at the kill, and what the resume did."""

    seed: int
    recorded: bool
    """The run was in the database at the kill (else there is nothing to resume)."""
    succeeded_before: frozenset[str] = frozenset()
    in_flight: frozenset[str] = frozenset()
    """Tasks whose attempt had started and not finished, by the database, at the kill."""
    calls_before: Counter[str] | None = None
    calls_after: Counter[str] | None = None
    resume_code: int = 0
    resume_status: str | None = None
    resume_stderr: str = ""
    to_first_dispatch_s: float | None = None
    """Wall seconds from launching ``swarm resume`` to its first attempt's start."""
    to_done_s: float = 0.0
    """Wall seconds from launching ``swarm resume`` to its exit."""
    results: dict[str, str] | None = None
    integrity: str = ""

    def after(self, task: str) -> int:
        return (self.calls_after or Counter())[task]

    def before(self, task: str) -> int:
        return (self.calls_before or Counter())[task]

    @property
    def re_executed_succeeded(self) -> list[str]:
        """Tasks that had succeeded before the kill and were called again (must be none)."""
        return sorted(t for t in self.succeeded_before if self.after(t) != self.before(t))

    @property
    def in_flight_called(self) -> frozenset[str]:
        """In-flight tasks whose model call had already been made when the process died."""
        return frozenset(t for t in self.in_flight if self.before(t) > 0)

    @property
    def duplicated(self) -> frozenset[str]:
        """In-flight tasks whose call was made again after the resume: duplicated work."""
        return frozenset(t for t in self.in_flight_called if self.after(t) > self.before(t))

    @property
    def extra_calls(self) -> int:
        """Calls beyond one per task, over the whole run."""
        return sum(n - 1 for n in (self.calls_after or Counter()).values() if n > 1)

    def problems(self, reference: Reference) -> list[str]:
        """How this seed breaks the F1 pass criteria; empty if it passed."""
        if not self.recorded:
            return []  # killed before the run was recorded: nothing to resume, nothing to check
        found = []
        if self.resume_code != 0 or self.resume_status != "succeeded":
            found.append(f"resume ended {self.resume_status} ({self.resume_code}): ")
            found[-1] += self.resume_stderr[-2000:]
        found += [
            f"task {t} had succeeded and ran {self.after(t)} times"
            for t in self.re_executed_succeeded
        ]
        found += [
            f"task {t} ran {n} times ({self.before(t)} before the kill)"
            for t, n in sorted((self.calls_after or Counter()).items())
            if n > self.before(t) + 1 or n > 2
        ]
        if self.results != reference.results:
            found.append("the results differ from the uninterrupted run's")
        if self.integrity != "ok":
            found.append(f"integrity_check: {self.integrity}")
        return [f"seed {self.seed}: {problem}" for problem in found]


def crash_and_resume(
    tmp: Path, reference: Reference, seed: int, database: str | None = None
) -> Recovery:
    """Run the plan, SIGKILL it at a moment drawn from ``seed`` (90% of seeds once the run is
    recorded, the rest during start-up), resume it, and report. ``database``: a PostgreSQL URL
    to run on (an empty database), instead of a new SQLite file in ``tmp``."""
    rng = random.Random(seed)
    ledger = tmp / f"s{seed}.ledger"
    db: Db = tmp / f"s{seed}.db" if database is None else database
    env = env_for(ledger)
    args = ["execute", str(reference.plan), "--db", str(db), "--run-id", RUN_ID, "--json"]
    proc = swarm(args, env)
    if rng.random() < 0.9:
        wait_for_run(db, proc)
    time.sleep(rng.uniform(0.0, reference.makespan_s * 1.1))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    if RUN_ID not in run_ids(db):
        return Recovery(seed, recorded=False)
    succeeded_before = frozenset(results(db, RUN_ID))
    in_flight = _running(db)
    calls_before = ledger_counts(ledger)
    launched = time.time()
    resumed = swarm(["resume", RUN_ID, "--db", str(db), "--json"], env)
    out, err = resumed.communicate(timeout=120)
    to_done = time.time() - launched
    # PostgreSQL checks its pages itself; SQLite's file is checked here.
    integrity = "ok" if isinstance(db, str) else str(query(db, "PRAGMA integrity_check")[0][0])
    return Recovery(
        seed,
        recorded=True,
        succeeded_before=succeeded_before,
        in_flight=in_flight,
        calls_before=calls_before,
        calls_after=ledger_counts(ledger),
        resume_code=resumed.returncode,
        resume_status=json.loads(out)["status"] if resumed.returncode == 0 else None,
        resume_stderr=err,
        to_first_dispatch_s=_first_start_after(db, launched),
        to_done_s=to_done,
        results=results(db, RUN_ID),
        integrity=integrity,
    )


def _running(db: Db) -> frozenset[str]:
    sql = "SELECT task_id FROM tasks WHERE run_id = ? AND status = 'running'"
    return frozenset(task for (task,) in query(db, sql, RUN_ID))


def _first_start_after(db: Db, launched: float) -> float | None:
    sql = "SELECT min(at) FROM events WHERE run_id = ? AND type = 'task.started' AND at >= ?"
    ((first,),) = query(db, sql, RUN_ID, launched)
    return None if first is None else float(first) - launched

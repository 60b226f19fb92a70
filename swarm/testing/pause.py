"""The fencing harness of the reliability suite: a paused driver (SIGSTOP, as a Ctrl-Z, a
debugger or a VM pause does) whose run is resumed by another process, and two resumes started
together. Real ``swarm`` processes on the sim provider, whose call ledger counts every model
call as it starts.

``tests/runtime/test_fencing.py`` asserts the criteria on each :class:`TakeOver` and
:class:`TwoResumes`; its slow sweeps tally them over seeds (figures in docs/reliability.md).
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from swarm.testing.crash import RUN_ID, env_for, ledger_counts, run_ids, swarm, wait_for_run

Snapshot = dict[str, tuple[str, int, str | None]]
"""Task → (status, attempt, result), as the database has it."""


def random_dag(n: int, seed: int, *, max_deps: int = 3) -> dict[str, object]:
    """``n`` llm tasks, each depending on up to ``max_deps`` earlier ones (seeded)."""
    rng = random.Random(seed)
    tasks: list[dict[str, object]] = []
    for i in range(n):
        deps = sorted(rng.sample(range(i), min(i, rng.randint(0, max_deps))))
        tasks.append(
            {
                "id": f"t{i:03d}",
                "kind": "llm",
                "prompt": f"Part {i}.",
                "deps": [f"t{d:03d}" for d in deps],
            }
        )
    return {"goal": "a random DAG", "budget": {"max_concurrency": 64}, "tasks": tasks}


def write_plan(tmp: Path, n: int, seed: int) -> Path:
    plan = tmp / f"plan{seed}.json"
    plan.write_text(json.dumps(random_dag(n, seed)))
    return plan


def snapshot(db: Path) -> Snapshot:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT task_id, status, attempt, result FROM tasks WHERE run_id = ?", (RUN_ID,)
        ).fetchall()
    return {task: (status, attempt, result) for task, status, attempt, result in rows}


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", (RUN_ID,)).fetchone()
    return int(n)


def run_status(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        (status,) = conn.execute("SELECT status FROM runs WHERE run_id = ?", (RUN_ID,)).fetchone()
    return str(status)


def age_heartbeat(db: Path, seconds: float) -> bool:
    """Move the run's heartbeat ``seconds`` into the past, as if the paused driver had been
    stopped that long; False if the write lock is held (the driver stopped mid-commit)."""
    conn = sqlite3.connect(db, timeout=0.5, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE runs SET heartbeat_at = heartbeat_at - ? WHERE run_id = ?", (seconds, RUN_ID)
        )
        conn.execute("COMMIT")
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return True


@dataclass(frozen=True)
class TakeOver:
    """One paused-driver trial: what the resume left, and what the woken driver did to it."""

    seed: int
    resume_code: int
    resume_status: str | None
    resume_stderr: str
    stale_code: int
    stale_stderr: str
    after_resume: Snapshot
    after_stale: Snapshot
    events: tuple[int, int]
    """Event rows after the resume, and after the stale driver exited (must be equal)."""
    calls: tuple[int, int]
    """Model calls in the ledger after the resume, and after the stale driver exited."""
    status_after: str

    @property
    def overwritten(self) -> list[str]:
        """Tasks whose row the stale driver changed after the resume had finished."""
        return sorted(t for t, row in self.after_resume.items() if self.after_stale.get(t) != row)

    @property
    def running_left(self) -> list[str]:
        return sorted(t for t, (status, _, _) in self.after_stale.items() if status == "running")

    def problems(self) -> list[str]:
        found = []
        if self.resume_code != 0 or self.resume_status != "succeeded":
            found.append(f"resume ended {self.resume_status} ({self.resume_code}):")
            found[-1] += self.resume_stderr[-1500:]
        if self.overwritten:
            found.append(f"the stale driver overwrote {self.overwritten[:10]}")
        if self.running_left:
            found.append(f"rows left running: {self.running_left[:10]}")
        if self.events[1] != self.events[0]:
            found.append(f"the stale driver wrote {self.events[1] - self.events[0]} event(s)")
        if self.calls[1] != self.calls[0]:
            found.append(f"the stale driver made {self.calls[1] - self.calls[0]} model call(s)")
        if self.status_after != "succeeded":
            found.append(f"the run ended {self.status_after}")
        if self.stale_code == 0 or "taken over by another driver" not in self.stale_stderr:
            found.append(f"the stale driver exited {self.stale_code}: {self.stale_stderr[-800:]}")
        return [f"seed {self.seed}: {problem}" for problem in found]


def pause_and_take_over(
    tmp: Path,
    plan: Path,
    seed: int,
    *,
    pause_after_s: float,
    stale_wait_s: float | None = None,
    latency: str = "fixed:0.5",
) -> TakeOver:
    """``swarm execute`` the plan; SIGSTOP it ``pause_after_s`` after the run is recorded; let
    its heartbeat go stale (really wait ``stale_wait_s``, or, if None, age the heartbeat in the
    database: the same to the resume, seconds faster); ``swarm resume`` to the end; SIGCONT the
    first process and see what it does."""
    db, ledger = tmp / f"p{seed}.db", tmp / f"p{seed}.ledger"
    env = {**env_for(ledger), "SWARM_SIM_LATENCY": latency}
    args = ["execute", str(plan), "--db", str(db), "--run-id", RUN_ID, "--concurrency", "64"]
    first = swarm([*args, "--json"], env)
    try:
        wait_for_run(db, first)
        time.sleep(pause_after_s)
        _stop_outside_a_commit(first, db, stale_wait_s)
        resumed = swarm(["resume", RUN_ID, "--db", str(db), "--json"], env)
        out, err = resumed.communicate(timeout=120)
        after_resume = snapshot(db)
        events = count_rows(db, "events")
        calls = sum(ledger_counts(ledger).values())
    finally:
        first.send_signal(signal.SIGCONT)
    stale_out, stale_err = first.communicate(timeout=60)  # with --json, errors go to stdout
    return TakeOver(
        seed,
        resume_code=resumed.returncode,
        resume_status=json.loads(out)["status"] if resumed.returncode == 0 else None,
        resume_stderr=err,
        stale_code=first.returncode,
        stale_stderr=stale_out + stale_err,
        after_resume=after_resume,
        after_stale=snapshot(db),
        events=(events, count_rows(db, "events")),
        calls=(calls, sum(ledger_counts(ledger).values())),
        status_after=run_status(db),
    )


def _stop_outside_a_commit(proc: subprocess.Popen[str], db: Path, wait_s: float | None) -> None:
    """SIGSTOP ``proc`` at a moment it holds no write lock (a process stopped inside a commit
    keeps SQLite's lock: nothing can be written until it wakes, the resume included)."""
    for _ in range(100):
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.02)
        if wait_s is None and age_heartbeat(db, 60.0):
            return
        if wait_s is not None and age_heartbeat(db, 0.0):
            time.sleep(wait_s)
            return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.003)
    raise RuntimeError("the driver always held the write lock")


@dataclass(frozen=True)
class TwoResumes:
    """Two ``swarm resume`` of one interrupted run, started together."""

    codes: tuple[int, int]
    stderr: tuple[str, str]
    resumed_events: int
    """``run.resumed`` events: one per process that took the run."""
    overlapping: bool
    """A second ``run.resumed`` came before the first resume's ``run.finished``: two drivers at
    once (the second may only take the run after the first has ended it)."""
    duplicated: list[str]
    """Tasks with more model calls than one per attempt the database records."""
    status_after: str
    running_left: int
    recorded: bool = True
    """The run was in the database at the kill (else there is nothing to resume)."""

    def problems(self) -> list[str]:
        found: list[str] = []
        if not self.recorded:
            return found
        if sorted(self.codes) == [0, 2]:  # they met: the loser was refused and wrote nothing
            if "is being executed by process" not in self.stderr[self.codes.index(2)]:
                found.append(f"the loser said: {self.stderr[self.codes.index(2)][-500:]}")
            if self.resumed_events != 1:
                found.append(f"{self.resumed_events} processes resumed the run")
        elif self.codes != (0, 0):  # (0, 0): one after the other, which is allowed
            found.append(f"exit codes {self.codes}: {self.stderr}")
        if self.overlapping:
            found.append("two processes drove the run at once")
        if self.duplicated:
            found.append(f"tasks called twice: {self.duplicated[:10]}")
        if self.status_after != "succeeded" or self.running_left:
            found.append(f"the run ended {self.status_after}, {self.running_left} rows running")
        return found


def two_resumes(tmp: Path, plan: Path, seed: int, *, kill_after_s: float) -> TwoResumes:
    """Execute, kill -9 after ``kill_after_s``, then launch two resumes at once (a few ms
    apart; each reaches the run after its own imports, so they meet within tens of ms)."""
    db, ledger = tmp / f"r{seed}.db", tmp / f"r{seed}.ledger"
    env = {**env_for(ledger), "SWARM_SIM_LATENCY": "fixed:0.2"}
    args = ["execute", str(plan), "--db", str(db), "--run-id", RUN_ID, "--concurrency", "64"]
    first = swarm(args, env)
    wait_for_run(db, first)
    time.sleep(kill_after_s)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    procs = [swarm(["resume", RUN_ID, "--db", str(db), "--json"], env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = (procs[0].returncode, procs[1].returncode)
    if RUN_ID not in run_ids(db):  # killed during start-up: nothing was recorded
        return TwoResumes(codes, (outs[0][1], outs[1][1]), 0, False, [], "", 0, recorded=False)
    with sqlite3.connect(db) as conn:
        marks = [
            kind
            for (kind,) in conn.execute(
                "SELECT type FROM events WHERE run_id = ? AND type IN ('run.resumed',"
                " 'run.finished') ORDER BY id",
                (RUN_ID,),
            )
        ]
        attempts = dict(
            conn.execute(
                "SELECT task_id, attempt FROM tasks WHERE run_id = ?", (RUN_ID,)
            ).fetchall()
        )
    calls = ledger_counts(ledger)
    after = snapshot(db)
    return TwoResumes(
        codes=codes,
        stderr=(outs[0][0] + outs[0][1], outs[1][0] + outs[1][1]),
        resumed_events=marks.count("run.resumed"),
        overlapping=_overlapping(marks),
        duplicated=sorted(t for t, n in calls.items() if n > attempts.get(t, 0)),
        status_after=run_status(db),
        running_left=sum(1 for status, _, _ in after.values() if status == "running"),
    )


def _overlapping(marks: list[str]) -> bool:
    """Whether a ``run.resumed`` follows another with no ``run.finished`` between them."""
    driving = False
    for kind in marks:
        if kind == "run.resumed" and driving:
            return True
        driving = kind == "run.resumed"
    return False

"""The kill -9 harness through the Replicate provider (issue 16, defect 8): a real
``swarm execute --provider replicate`` at concurrency 100 against the fake server in this
process, whose creations come in bursts (a wide wave of tasks released at once) and are
answered slowly, killed with SIGKILL at a seeded random moment, then ``swarm resume``; and what
the fake and the database say about the predictions around the kill.

The figure that matters is :attr:`ReplicateRecovery.recreated_answered`: predictions made
again after the kill for a task whose earlier prediction the fake had already answered before
it. ``tests/providers/test_crash_replicate.py`` asserts on it; ``benchmarks/bench_recovery.py``
tallies it over many seeds (``--parts replicate``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from swarm.testing.crash import swarm
from swarm.testing.fake_predictions import FakePrediction, Script
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate

RUN_ID = "r"
WIDTH = 300
CONCURRENCY = 100
ANSWER_DELAY_S = 0.15
"""The fake's delay between making a prediction and answering its creation."""


def burst_plan(width: int = WIDTH) -> dict[str, object]:
    """A root, ``width`` parallel parts (released at once: a burst of creations), ten joins,
    and a final task; each prompt names its task, so the fake's predictions say whose they are."""
    tasks: list[dict[str, object]] = [{"id": "root", "kind": "llm", "prompt": "task root"}]
    for i in range(width):
        tasks.append(
            {"id": f"w{i:03d}", "kind": "llm", "prompt": f"task w{i:03d}", "deps": ["root"]}
        )
    joins = [f"j{g}" for g in range(10)]
    for g, gid in enumerate(joins):
        deps = [f"w{i:03d}" for i in range(width) if i % 10 == g]
        tasks.append({"id": gid, "kind": "llm", "prompt": f"task {gid}", "deps": deps})
    tasks.append({"id": "final", "kind": "llm", "prompt": "task final", "deps": joins})
    return {"goal": "bursts of creations", "tasks": tasks}


def fake_server() -> FakeReplicate:
    """Answers of ten tokens, 0.05 s apart; creations answered after :data:`ANSWER_DELAY_S`."""
    fake = FakeReplicate()
    fake.answer_delay_s = ANSWER_DELAY_S
    fake.script = lambda inputs: Script(
        [f"answer to {task_of(inputs)}"] + [" ."] * 9,
        token_delay_s=0.05,
    )
    return fake


def env_for(fake: FakeReplicate) -> dict[str, str]:
    env = dict(os.environ, REPLICATE_API_TOKEN=FAKE_TOKEN, REPLICATE_BASE_URL=fake.base_url)
    for name in ("SWARM_PROVIDER", "SWARM_DB", "SWARM_SIM_LATENCY", "SWARM_SIM_FAULTS"):
        env.pop(name, None)
    return env


@dataclass(frozen=True)
class ReplicateRecovery:
    """One seed: the predictions around the kill, and how the resume ended."""

    seed: int
    recorded: bool
    kill_after_s: float = 0.0
    answered_unjournaled: int = 0
    """Predictions whose creation the fake had answered before the kill but whose id the
    database did not hold: the window of defect 8."""
    unanswered: int = 0
    """Creations of the killed process the fake had not answered before the kill (received
    before it, or still in the socket)."""
    recreated_answered: int = 0
    """Predictions beyond one per task, for tasks whose first prediction's creation the fake
    had answered before the kill (the target: 0)."""
    recreated_unanswered: int = 0
    """Predictions beyond one per task, for tasks whose first creation was not answered before
    the kill (for instance still in the socket, so the fake made it after the resume had read
    the list)."""
    created_before: int = 0
    created_after: int = 0
    resume_code: int = 0
    resume_status: str | None = None
    resume_stderr: str = ""
    succeeded: int = 0
    integrity: str = ""

    def problems(self) -> list[str]:
        if not self.recorded:
            return []
        found = []
        if self.resume_code != 0 or self.resume_status != "succeeded":
            found.append(f"resume ended {self.resume_status} ({self.resume_code}): ")
            found[-1] += self.resume_stderr[-2000:]
        if self.recreated_answered:
            found.append(f"{self.recreated_answered} answered creations were made again")
        if self.succeeded != WIDTH + 12:
            found.append(f"{self.succeeded} tasks succeeded of {WIDTH + 12}")
        if self.integrity != "ok":
            found.append(f"integrity_check: {self.integrity}")
        return [f"seed {self.seed}: {p}" for p in found]


def crash_and_resume(tmp: Path, seed: int, *, makespan_s: float = 6.0) -> ReplicateRecovery:
    """Run the burst plan through the fake, SIGKILL it ``U(0.3, makespan_s)`` seconds after the
    run is recorded, resume it, and count."""
    rng = random.Random(seed)
    plan = tmp / f"plan{seed}.json"
    plan.write_text(json.dumps(burst_plan()))
    db = tmp / f"r{seed}.db"
    common = ["--db", str(db), "--json"]
    with fake_server() as fake:
        env = env_for(fake)
        args = ["execute", str(plan), *common, "--run-id", RUN_ID, "--provider", "replicate"]
        args += ["--concurrency", str(CONCURRENCY), "--rate-limit", "60000"]
        args += ["--artifacts-dir", str(tmp / "runs")]
        proc = swarm(args, env)
        _wait_for_run(db, proc)
        delay = rng.uniform(0.3, makespan_s)
        time.sleep(delay)
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if not _recorded(db):
            return ReplicateRecovery(seed, recorded=False)
        journaled = _refs(db)
        # A creation still in the socket when the process died reaches the fake after the kill:
        # it is the killed process's, so the split is the resume's launch, not the kill.
        resume_at = time.time()
        with fake.lock:
            before = [p for p in fake.predictions.values() if p.created_epoch < resume_at]
        resumed = swarm(["resume", RUN_ID, *common], env)
        out, err = resumed.communicate(timeout=300)
        with fake.lock:
            after = [p for p in fake.predictions.values() if p.created_epoch >= resume_at]
    window = [p for p in before if _answered(p, killed_at) and p.id not in journaled]
    by_task = defaultdict(list)
    for p in sorted([*before, *after], key=lambda p: p.created_epoch):
        by_task[_task(p)].append(p)
    recreated_answered = recreated_unanswered = 0
    for made in by_task.values():
        extra = len(made) - 1  # no faults are injected: one prediction a task is enough
        if extra > 0 and _answered(made[0], killed_at):
            recreated_answered += extra
        elif extra > 0:
            recreated_unanswered += extra
    with sqlite3.connect(db) as conn:
        integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        (succeeded,) = conn.execute(
            "SELECT count(*) FROM tasks WHERE run_id = ? AND status = 'succeeded'", (RUN_ID,)
        ).fetchone()
    return ReplicateRecovery(
        seed,
        recorded=True,
        kill_after_s=delay,
        answered_unjournaled=len(window),
        unanswered=sum(1 for p in before if not _answered(p, killed_at)),
        recreated_answered=recreated_answered,
        recreated_unanswered=recreated_unanswered,
        created_before=len(before),
        created_after=len(after),
        resume_code=resumed.returncode,
        resume_status=json.loads(out)["status"] if resumed.returncode == 0 else None,
        resume_stderr=err,
        succeeded=int(succeeded),
        integrity=integrity,
    )


def _task(prediction: FakePrediction) -> str:
    return task_of(prediction.inputs)


def task_of(inputs: dict[str, object]) -> str:
    """The task a prediction is for: its prompt's first line is ``task <id>``."""
    return str(inputs.get("prompt", "")).strip().split("\n")[0].split()[-1]


def _answered(prediction: FakePrediction, killed_at: float) -> bool:
    return prediction.answered_epoch is not None and prediction.answered_epoch < killed_at


def _recorded(db: Path) -> bool:
    try:
        with sqlite3.connect(db) as conn:
            return (
                conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (RUN_ID,)).fetchone()
                is not None
            )
    except sqlite3.Error:
        return False


def _refs(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {ref for (ref,) in conn.execute("SELECT ref FROM calls WHERE run_id = ?", (RUN_ID,))}


def _wait_for_run(db: Path, proc: subprocess.Popen[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists() and _recorded(db):
            return
        time.sleep(0.005)

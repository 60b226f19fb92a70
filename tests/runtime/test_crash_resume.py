"""Kill a real `swarm execute` process with SIGKILL at random moments, resume it, and check
through the sim provider's call ledger that no succeeded task ran twice and that the results
equal an uninterrupted run's (fault F1 of the catalogue)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

CRASH_SEEDS_FAST = [11, 22, 33]
CRASH_SEEDS_SLOW = list(range(1000, 1200))


def fan_plan(width: int = 50) -> dict[str, object]:
    tasks: list[dict[str, object]] = [{"id": "root", "kind": "llm", "prompt": "Split the work."}]
    for i in range(width):
        tasks.append({"id": f"w{i:02d}", "kind": "llm", "prompt": f"Part {i}.", "deps": ["root"]})
    groups = [f"j{g}" for g in range(5)]
    for g, gid in enumerate(groups):
        deps = [f"w{i:02d}" for i in range(width) if i % 5 == g]
        tasks.append({"id": gid, "kind": "llm", "prompt": f"Join group {g}.", "deps": deps})
    tasks.append({"id": "final", "kind": "llm", "prompt": "Write it up.", "deps": groups})
    return {"goal": "fan out and in", "budget": {"max_concurrency": 8}, "tasks": tasks}


def swarm(args: list[str], env: dict[str, str], **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "swarm.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def env_for(ledger: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SWARM_SIM_LATENCY="fixed:0.05", SWARM_SIM_LEDGER=str(ledger), SWARM_SIM_FAULTS="")
    return env


def results(db: Path, run_id: str) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT task_id, result FROM tasks WHERE run_id = ? AND status = 'succeeded'",
            (run_id,),
        ).fetchall()
    return dict(rows)


def ledger_counts(ledger: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            key = json.loads(line)["key"]
            counts[key.split("/")[1]] += 1
    return counts


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], float]:
    tmp = tmp_path_factory.mktemp("reference")
    plan = tmp / "plan.json"
    plan.write_text(json.dumps(fan_plan()))
    db = tmp / "ref.db"
    proc = swarm(
        ["execute", str(plan), "--db", str(db), "--run-id", "ref", "--json"],
        env_for(tmp / "ledger"),
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["counts"]["succeeded"] == 57
    return plan, results(db, "ref"), summary["makespan_s"]


def crash_and_resume(tmp: Path, reference: tuple[Path, dict[str, str], float], seed: int) -> None:
    plan, expected, duration = reference
    rng = random.Random(seed)
    db, ledger = tmp / f"s{seed}.db", tmp / f"s{seed}.ledger"
    env = env_for(ledger)
    proc = swarm(["execute", str(plan), "--db", str(db), "--run-id", "r", "--json"], env)
    if rng.random() < 0.9:  # most kills land while tasks run; the rest during start-up
        wait_for_run(db, proc)
    time.sleep(rng.uniform(0.0, duration * 1.1))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    if not db.exists() or "r" not in _run_ids(db):
        return  # killed before the run was recorded: nothing to resume, nothing to check
    before = set(results(db, "r"))
    counts_before = ledger_counts(ledger)
    resumed = swarm(["resume", "r", "--db", str(db), "--json"], env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    assert json.loads(out)["status"] == "succeeded"
    counts = ledger_counts(ledger)
    for task in before:
        assert counts[task] == 1, f"seed {seed}: succeeded task {task} ran {counts[task]} times"
    for task, n in counts.items():
        assert n <= counts_before[task] + 1 and n <= 2, f"seed {seed}: {task} ran {n} times"
    assert results(db, "r") == expected
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def wait_for_run(db: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists() and "r" in _run_ids(db):
            return
        time.sleep(0.005)


def _run_ids(db: Path) -> set[str]:
    try:
        with sqlite3.connect(db) as conn:
            return {row[0] for row in conn.execute("SELECT run_id FROM runs")}
    except sqlite3.Error:
        return set()


@pytest.mark.parametrize("seed", CRASH_SEEDS_FAST)
def test_sigkill_then_resume(
    tmp_path: Path, reference: tuple[Path, dict[str, str], float], seed: int
) -> None:
    crash_and_resume(tmp_path, reference, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", CRASH_SEEDS_SLOW)
def test_sigkill_sweep(
    tmp_path: Path, reference: tuple[Path, dict[str, str], float], seed: int
) -> None:
    crash_and_resume(tmp_path, reference, seed)

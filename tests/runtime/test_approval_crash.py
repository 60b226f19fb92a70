"""Kill -9 right after every commit point of a run with an approval gate (fault F2 with a
gate), then approve from another process and resume: no decision lost, no succeeded task run
again, the gated task's model call made once, every result equal to an uninterrupted run's."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from swarm.cli.app import EXIT_INPUT, EXIT_OK, EXIT_WAITING
from swarm.store.writer import FAILPOINT_EXIT_CODE
from tests.runtime.test_commit_points import env_for, ledger, results, swarm

PLAN = {
    "goal": "a gate among branches",
    "budget": {"max_concurrency": 2},
    "tasks": [
        {"id": "draft", "kind": "llm", "prompt": "Draft."},
        {"id": "publish", "kind": "llm", "prompt": "Publish.", "deps": ["draft"],
         "approval": True},
        {"id": "announce", "kind": "llm", "prompt": "Announce.", "deps": ["publish"]},
        *({"id": f"s{i}", "kind": "llm", "prompt": f"Side {i}."} for i in range(3)),
    ],
}  # fmt: skip
POINTS = list(range(1, 13))


def crash_then_approve(point: int, tmp: Path) -> bool:
    plan, db, led = tmp / "plan.json", tmp / f"p{point}.db", tmp / f"p{point}.ledger"
    plan.write_text(json.dumps(PLAN))
    args = ["--db", str(db)]
    first = swarm(["execute", str(plan), *args, "--run-id", "r", "--json"], env_for(led, point))
    if first.returncode == EXIT_WAITING:
        return False  # the run reached its gate in fewer commits: nothing to crash at
    assert first.returncode == FAILPOINT_EXIT_CODE, first.stderr
    before = set(results(db))
    for _ in range(3):  # approve (once there is a gate to approve), resume, until it is done
        decided = swarm(["approve", "r", "publish", *args], env_for(led))
        assert decided.returncode in (EXIT_OK, EXIT_INPUT, 6), decided.stderr
        resumed = swarm(["resume", "r", *args, "--json"], env_for(led))
        assert resumed.returncode in (EXIT_OK, EXIT_WAITING), resumed.stderr
        if resumed.returncode == EXIT_OK:
            break
    assert json.loads(resumed.stdout)["status"] == "succeeded", (point, resumed.stdout)
    counts = ledger(led)
    assert all(counts[t] == 1 for t in before), (point, counts, before)
    assert counts["publish"] == counts["announce"] == 1, (point, counts)
    assert set(results(db)) == {t["id"] for t in PLAN["tasks"]}  # type: ignore[index, attr-defined]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        decisions = conn.execute("SELECT decision, count(*) FROM approvals GROUP BY 1").fetchall()
    assert decisions == [("approved", 1)]
    return True


@pytest.mark.parametrize("point", [1, 3])
def test_crash_after_a_commit_point_of_a_gated_run(point: int, tmp_path: Path) -> None:
    assert crash_then_approve(point, tmp_path)


@pytest.mark.slow
def test_crash_after_every_commit_point_of_a_gated_run(tmp_path: Path) -> None:
    tested = [p for p in POINTS if crash_then_approve(p, tmp_path)]
    assert tested == list(range(1, len(tested) + 1)) and len(tested) >= 3

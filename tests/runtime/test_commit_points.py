"""Fault F2: crash right after every commit point, then resume; each point must pass F1's
checks (no succeeded task re-run, results equal an uninterrupted run's, integrity ok)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from swarm.store.writer import FAILPOINT_EXIT_CODE
from swarm.testing.crash import Db, query
from swarm.testing.postgres import PostgresServer

PLAN = {
    "goal": "commit points",
    "budget": {"max_concurrency": 3},
    "tasks": [
        {"id": "root", "kind": "llm", "prompt": "Start."},
        *(
            {"id": f"w{i}", "kind": "llm", "prompt": f"Part {i}.", "deps": ["root"]}
            for i in range(6)
        ),
        {"id": "join", "kind": "llm", "prompt": "Join.", "deps": [f"w{i}" for i in range(6)]},
    ],
}
FAST_POINTS = [1, 3, 5]
ALL_POINTS = list(range(1, 41))


def swarm(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def env_for(ledger: Path, exit_after: int = 0) -> dict[str, str]:
    env = dict(os.environ, SWARM_SIM_LATENCY="fixed:0.01", SWARM_SIM_LEDGER=str(ledger))
    env.pop("SWARM_SIM_FAULTS", None)
    env["SWARM_FAILPOINT_EXIT_AFTER_COMMIT"] = str(exit_after)
    return env


def results(db: Db) -> dict[str, str]:
    return dict(query(db, "SELECT task_id, result FROM tasks WHERE status='succeeded'"))


def ledger(path: Path) -> Counter[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter(json.loads(line)["key"].split("/")[1] for line in lines)


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("points")
    plan = tmp / "plan.json"
    plan.write_text(json.dumps(PLAN))
    db = tmp / "ref.db"
    done = swarm(["execute", str(plan), "--db", str(db), "--json"], env_for(tmp / "l"))
    assert done.returncode == 0, done.stderr
    return plan, results(db)


def crash_at(
    point: int, tmp: Path, plan: Path, expected: dict[str, str], url: str | None = None
) -> bool:
    """``url``: run on that (empty) PostgreSQL database instead of a new SQLite file."""
    led = tmp / f"p{point}.ledger"
    db: Db = tmp / f"p{point}.db" if url is None else url
    first = swarm(
        ["execute", str(plan), "--db", str(db), "--run-id", "r", "--json"], env_for(led, point)
    )
    if first.returncode == 0:
        return False  # the run needed fewer commits than this point: nothing to test
    assert first.returncode == FAILPOINT_EXIT_CODE, first.stderr
    before = set(results(db))
    resumed = swarm(["resume", "r", "--db", str(db), "--json"], env_for(led))
    assert resumed.returncode == 0, resumed.stderr
    counts = ledger(led)
    assert all(counts[t] == 1 for t in before), (point, counts, before)
    assert all(n <= 2 for n in counts.values()), (point, counts)
    assert results(db) == expected
    if isinstance(db, Path):  # PostgreSQL checks its own pages
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
    return True


@pytest.mark.parametrize("point", FAST_POINTS)
def test_crash_after_commit_point(
    point: int, tmp_path: Path, expected: tuple[Path, dict[str, str]]
) -> None:
    assert crash_at(point, tmp_path, *expected)


@pytest.mark.parametrize("point", FAST_POINTS)
def test_crash_after_commit_point_on_postgres(
    point: int, tmp_path: Path, expected: tuple[Path, dict[str, str]], postgres_url: str
) -> None:
    assert crash_at(point, tmp_path, *expected, url=postgres_url)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_crash_after_every_commit_point_on_postgres(
    tmp_path: Path, expected: tuple[Path, dict[str, str]], postgres_server: PostgresServer
) -> None:
    def at(point: int) -> bool:
        url = postgres_server.create_database(f"points_{point}")
        return crash_at(point, tmp_path, *expected, url=url)

    tested = [p for p in ALL_POINTS if at(p)]
    assert tested == list(range(1, len(tested) + 1)) and len(tested) >= 6


@pytest.mark.slow
def test_crash_after_every_commit_point(
    tmp_path: Path, expected: tuple[Path, dict[str, str]]
) -> None:
    tested = [p for p in ALL_POINTS if crash_at(p, tmp_path, *expected)]
    # every point up to the run's last commit was crashed at and passed (6 commits here: the
    # first writes the run with only the root's row, the second the other tasks' rows)
    assert tested == list(range(1, len(tested) + 1)) and len(tested) >= 6

"""kill -9 through the Replicate provider at concurrency 100, in bursts of creations (issue 16,
defect 8): a resume never pays again for a prediction whose creation Replicate had answered
before the kill, journaled or not (the harness: :mod:`swarm.testing.crash_replicate`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm.testing.crash_replicate import crash_and_resume

SLOW_SEEDS = range(200, 220)


def test_a_kill_in_a_burst_of_creations_recreates_nothing_answered(tmp_path: Path) -> None:
    recovery = crash_and_resume(tmp_path, seed=3)
    assert recovery.problems() == []


@pytest.mark.slow
def test_kill_sweep_through_replicate(tmp_path: Path) -> None:
    recoveries = [crash_and_resume(tmp_path, seed) for seed in SLOW_SEEDS]
    problems = [p for r in recoveries for p in r.problems()]
    assert problems == []
    assert sum(r.answered_unjournaled for r in recoveries) > 0  # the window was hit

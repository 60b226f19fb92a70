"""Kill a real `swarm execute` process with SIGKILL at random moments, resume it, and check
through the sim provider's call ledger that no succeeded task ran twice and that the results
equal an uninterrupted run's (fault F1 of the catalogue; the harness is
:mod:`swarm.testing.crash`, and ``benchmarks/bench_recovery.py`` tallies its figures)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from swarm.testing.crash import Recovery, Reference, crash_and_resume, run_reference

CRASH_SEEDS_FAST = [11, 22, 33]
CRASH_SEEDS_SLOW = list(range(1000, 1200))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    made = run_reference(tmp_path_factory.mktemp("reference"))
    assert len(made.results) == 57
    return made


@pytest.mark.parametrize("seed", CRASH_SEEDS_FAST)
def test_sigkill_then_resume(tmp_path: Path, reference: Reference, seed: int) -> None:
    assert crash_and_resume(tmp_path, reference, seed).problems(reference) == []


@pytest.mark.parametrize("seed", CRASH_SEEDS_FAST)
def test_sigkill_then_resume_on_postgres(
    tmp_path: Path, reference: Reference, seed: int, postgres_url: str
) -> None:
    """The same seeds on a PostgreSQL store (the conformance suite's kill -9 sweep)."""
    recovery = crash_and_resume(tmp_path, reference, seed, database=postgres_url)
    assert recovery.problems(reference) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", CRASH_SEEDS_SLOW)
def test_sigkill_sweep(tmp_path: Path, reference: Reference, seed: int) -> None:
    assert crash_and_resume(tmp_path, reference, seed).problems(reference) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", CRASH_SEEDS_SLOW)
def test_sigkill_sweep_on_postgres(
    tmp_path: Path, reference: Reference, seed: int, postgres_url: str
) -> None:
    """The 200-seed sweep on a PostgreSQL store (``-m slow``, as on SQLite)."""
    recovery = crash_and_resume(tmp_path, reference, seed, database=postgres_url)
    assert recovery.problems(reference) == []


def test_the_criteria_catch_a_succeeded_task_run_again_and_a_third_run(
    reference: Reference,
) -> None:
    recovery = Recovery(
        seed=0,
        recorded=True,
        succeeded_before=frozenset({"root"}),
        in_flight=frozenset({"w00"}),
        calls_before=Counter({"root": 1, "w00": 1}),
        calls_after=Counter({"root": 2, "w00": 3}),
        resume_status="succeeded",
        results=reference.results,
        integrity="ok",
    )
    problems = recovery.problems(reference)
    assert any("task root had succeeded and ran 2 times" in p for p in problems)
    assert any("task w00 ran 3 times" in p for p in problems)
    assert recovery.duplicated == {"w00"} and recovery.extra_calls == 3

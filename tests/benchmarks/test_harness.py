"""The benchmark harness in ``benchmarks/`` on tiny inputs, so it does not rot between runs:
the shapes, the schedule bounds and a swarm measurement (the peers, Dask and LangGraph, are an
optional extra and not installed for the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import engines  # noqa: E402
import shapes  # noqa: E402
from bench_scheduler import list_schedule, lower_bound  # noqa: E402


def test_random_shape_depends_on_0_to_3_of_the_previous_50() -> None:
    shape = shapes.random_shape(300, seed=0)
    assert shape == shapes.random_shape(300, seed=0)  # seeded
    assert [t["id"] for t in shape["tasks"]] == [f"t{i}" for i in range(300)]
    for i, task in enumerate(shape["tasks"]):
        deps = [int(d[1:]) for d in task["deps"]]
        assert len(deps) <= 3 and all(i - 50 <= d < i for d in deps)
    assert any(len(t["deps"]) == 3 for t in shape["tasks"])


def test_fan_shape_is_a_root_a_wide_middle_and_a_sink() -> None:
    shape = shapes.fan_shape(10)
    tasks = shape["tasks"]
    assert tasks[0]["deps"] == [] and all(t["deps"] == ["t0"] for t in tasks[1:9])
    assert tasks[9]["deps"] == [f"t{i}" for i in range(1, 9)]
    assert shapes.depth(shape) == 3


def test_durations_are_seeded_and_estimates_are_given_only_when_asked() -> None:
    base = shapes.fan_shape(20)
    shape = shapes.with_durations(base, "lognormal:0.05,0.5", seed=11)
    assert shape == shapes.with_durations(base, "lognormal:0.05,0.5", seed=11)
    assert all(t["dur"] > 0 for t in shape["tasks"])
    plan = shapes.plan_of(shape, 16)
    assert plan.budget.max_concurrency == 16 and len(plan.tasks) == 20
    assert all(spec.estimate_s is None for spec in plan.tasks)
    estimated = shapes.plan_of(shape, 16, estimates=True)
    assert all(spec.estimate_s is not None and spec.estimate_s > 0 for spec in estimated.tasks)


def test_list_scheduling_never_beats_the_lower_bound() -> None:
    shape = shapes.with_durations(shapes.fan_shape(12), "lognormal:0.05,0.5", seed=3)
    plan = shapes.plan_of(shape, 4, estimates=True)
    dur = {t["id"]: t["dur"] for t in shape["tasks"]}
    bound = lower_bound(plan, dur, 4)
    longest_middle = max(dur[f"t{i}"] for i in range(1, 11))
    assert bound >= dur["t0"] + longest_middle + dur["t11"] - 1e-9
    assert bound >= sum(dur.values()) / 4 - 1e-9
    for by in ("count", "duration", "estimate"):
        assert list_schedule(plan, dur, 4, by) >= bound - 1e-9
    # an oracle order is never worse than the order by task count on this shape
    assert list_schedule(plan, dur, 4, "duration") <= list_schedule(plan, dur, 4, "count") + 1e-9


@pytest.mark.parametrize("estimates", [False, True])
def test_a_swarm_measurement_of_a_tiny_shape(tmp_path: Path, estimates: bool) -> None:
    shape = shapes.with_durations(shapes.random_shape(40, seed=1), "fixed:0.001", seed=0)
    result = engines.run_swarm(shape, 4, tmp_path, estimates=estimates)
    assert result["wall_s"] >= 0.001
    assert result["db_mb"] > 0
    assert (tmp_path / "swarm.db").exists()


def test_the_store_benchmark_renders_its_side_by_side_table() -> None:
    from bench_store import HEADING, render

    row = {"tasks_per_s": 1000.0, "commits": [10, 12, 11], "commit_ms": 0.5, "efficiency": 0.9}
    results = {
        "SQLite": {**row, "round_trip_ms": 0},
        "PostgreSQL": {**row, "tasks_per_s": 500.0, "round_trip_ms": 0.25},
        "_version": "15",
    }
    table = render(results, n_noop=100, reps=3, latency="fixed:0")
    assert table.startswith(HEADING)
    assert "| SQLite | 1,000 | 1.00 | 11 | 0.500 | – | 0.900 |" in table
    assert "| PostgreSQL | 500 | 0.50 | 11 | 0.500 | 0.25 | 0.900 |" in table

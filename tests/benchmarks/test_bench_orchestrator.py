"""The orchestrator benchmark's pieces on tiny inputs: the seeded latency model, the plan it
runs and the zero-overhead schedule it compares against."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_orchestrator import LatencyModel, WorkModel, _list_schedule, plan_for  # noqa: E402


def test_the_latency_model_is_seeded_by_the_call_and_scaled() -> None:
    model = LatencyModel()
    draws = [model.draw(f"orchestrator/1/{n}") for n in range(200)]
    assert draws == [model.draw(f"orchestrator/1/{n}") for n in range(200)]
    median = sorted(draws)[100] * model.scale
    assert 4.0 < median < 10.0  # 1.2 s to the first token + ~250 tokens at ~45 tokens/s
    assert LatencyModel(scale=1.0).draw("k") == pytest.approx(model.draw("k") * model.scale)


def test_list_schedule_packs_the_longest_first_on_the_slots() -> None:
    assert _list_schedule([5.0, 3.0, 2.0, 2.0], 2) == 7.0
    assert _list_schedule([1.0] * 10, 100) == 1.0
    assert _list_schedule([], 4) == 0.0


def test_the_plan_is_one_orchestrator_with_a_pool_for_every_sub_agent() -> None:
    plan = plan_for(300, 100)
    (root,) = plan.tasks
    assert root.kind == "orchestrator" and root.prompt.count("\n- source ") == 300
    assert plan.budget.max_concurrency == 100
    assert plan.budget.max_steps >= 300 * root.config["subagent_steps"]


def test_the_work_model_gives_300_sub_agents_about_4000_steps() -> None:
    """Kimi's shape: sub-agents of up to 100 steps; a seeded draw per sub-agent's id, odd (the
    sim agent's 9-step routine, two steps at a time), the same in every run."""
    work = WorkModel()
    ids = [f"orchestrator:s1-{n}" for n in range(1, 301)]
    steps = [work.steps(i) for i in ids]
    assert steps == [WorkModel().steps(i) for i in ids]
    assert 3700 <= sum(steps) <= 4300 and all(s % 2 == 1 and 9 <= s <= 99 for s in steps)
    assert (
        len(set(steps)) > 5 and max(steps) <= plan_for(300, 100).tasks[0].config["subagent_steps"]
    )
    assert WorkModel(median=60.0, sigma=0.0).steps("x") == 59

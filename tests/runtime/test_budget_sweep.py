"""The budget sweep of issue 16 (``-m slow``): 1,000 one-call tasks at concurrency 300, ASCII
and Chinese prompts counted as K2.6 counts them, token and dollar budgets from tight to loose.
Every run: spend <= budget, 0 tasks failed; a run that ends with tasks left is paused, and
only once less than one call's worst case was left. Prints one line per run (the figures in
docs/reliability.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.k26 import K26Counting
from tests.runtime.test_budget_runs import CHINESE, ENGLISH, plan, run, sim

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
TASKS = 1_000
BUDGETS: list[dict[str, Any]] = [
    {"max_tokens": 20_000},
    {"max_tokens": 100_000},
    {"max_tokens": 400_000},
    {"max_cost_usd": 0.02},
    {"max_cost_usd": 0.10},
    {"max_cost_usd": 0.50},
]


@pytest.mark.parametrize("text", [ENGLISH, CHINESE], ids=["ascii", "cjk"])
@pytest.mark.parametrize(
    "budget", BUDGETS, ids=lambda b: "-".join(f"{k}={v}" for k, v in b.items())
)
async def test_budget_sweep_at_concurrency_300(
    tmp_path: Path, text: str, budget: dict[str, Any]
) -> None:
    provider = K26Counting(sim())
    began = time.perf_counter()
    summary = await run(tmp_path / "s.db", plan(TASKS, text, 300, **budget), provider)
    wall = time.perf_counter() - began
    counts = summary["counts"]
    tokens = summary["tokens_in"] + summary["tokens_out"]
    ((key, limit),) = budget.items()
    spent = tokens if key == "max_tokens" else summary["cost_usd"]
    print(
        f"\nSWEEP {'cjk' if text is CHINESE else 'ascii'} {key}={limit}: {summary['status']}, "
        f"{counts['succeeded']} succeeded, {counts['failed']} failed, {counts['pending']} pending; "
        f"spent {spent} = {spent / limit:.3f} of the budget; peak {provider.peak} calls in flight; "
        f"{wall:.1f} s"
    )
    assert spent <= limit
    assert counts["failed"] == 0 and counts["skipped"] == 0
    if counts["succeeded"] < TASKS:
        assert summary["status"] == "paused"
        paused = summary["paused"]
        assert paused["left"] < paused["needed"]
    else:
        assert summary["status"] == "succeeded"

"""Run budgets under a swarm: 300 workers calling at once through ``TaskContext.call_model``
never spend more than the run's dollar or token budget; the calls that would overshoot it are
refused before they are sent (a call that only does not fit *now* waits for room instead)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from swarm.core.budget import Budget
from swarm.errors import BudgetExhausted
from swarm.plan import ModelParams, TaskSpec
from swarm.providers.base import Provider
from swarm.providers.pricing import Price
from swarm.providers.sim import SimProvider
from swarm.runtime.budget_gate import BudgetGate
from swarm.testing.fake_replicate import FakeReplicate
from tests.providers.conftest import fast_provider
from workers.base import TaskContext

pytestmark = pytest.mark.anyio
WORKERS = 300
K26_PRICE = Price(0.95, 4.00)


def context(i: int, provider: Provider, gate: BudgetGate, run_dir: Path) -> TaskContext:
    spec = TaskSpec(id=f"t{i}", kind="llm", prompt=f"Summarise finding number {i} briefly.")
    return TaskContext(
        run_id="budget",
        spec=spec,
        attempt=1,
        allowance=1,
        model="moonshotai/kimi-k2.6",
        params=ModelParams(max_tokens=64),
        inputs={},
        provider=provider,
        budget=gate,
        price=K26_PRICE,
        run_dir=run_dir,
    )


async def swarm_spend(provider: Provider, budget: Budget, run_dir: Path) -> tuple[int, int]:
    """Run WORKERS one-call tasks at once; (calls answered, calls refused by the budget)."""
    answered = refused = 0
    gate = BudgetGate(budget)  # the run's one limiter, shared by every call

    async def one(i: int) -> None:
        nonlocal answered, refused
        ctx = context(i, provider, gate, run_dir)
        try:
            await ctx.call_model(ctx.request(ctx.spec.prompt))
            answered += 1
        except BudgetExhausted:
            refused += 1

    async with anyio.create_task_group() as tg:
        for i in range(WORKERS):
            tg.start_soon(one, i)
    return answered, refused


async def test_300_workers_on_the_fake_replicate_never_exceed_the_dollar_budget(
    fake: FakeReplicate, tmp_path: Path
) -> None:
    budget = Budget(max_cost_usd=0.01)
    provider = fast_provider(fake)
    try:
        answered, refused = await swarm_spend(provider, budget, tmp_path)
    finally:
        await provider.aclose()
    assert answered + refused == WORKERS
    assert answered > 0 and refused > 0
    assert budget.spent_cost_usd <= 0.01
    assert budget.held_cost_usd == pytest.approx(0.0, abs=1e-12)
    assert len(fake.creations) == answered  # a refused call never reached Replicate


async def test_300_workers_on_the_sim_never_exceed_the_token_budget(tmp_path: Path) -> None:
    budget = Budget(max_tokens=5_000)
    answered, refused = await swarm_spend(SimProvider(), budget, tmp_path)
    assert answered > 0 and refused > 0
    assert budget.spent_tokens <= 5_000 and budget.held_tokens == 0

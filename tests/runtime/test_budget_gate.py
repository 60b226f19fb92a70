"""The budget gate: a call that does not fit waits for the calls in flight to settle (first come,
first served) and is refused only when what is spent leaves no room; 300 workers with Chinese
prompts, counted as K2.6 counts them, never spend more than the budget."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from swarm.core.budget import Budget
from swarm.errors import BudgetExhausted
from swarm.plan import ModelParams, TaskSpec
from swarm.providers.base import Provider
from swarm.providers.pricing import Price
from swarm.providers.sim import Latency, SimProvider
from swarm.runtime.budget_gate import BudgetGate, deadline_held
from tests.runtime.k26 import K26Counting
from workers.base import TaskContext

pytestmark = pytest.mark.anyio
K26_PRICE = Price(0.95, 4.00)
CHINESE = (
    "第{i}项：" + "请根据以下材料总结研究发现，并用中文列出三个要点，每个要点不超过二十个字。" * 4
)
ENGLISH = "Finding {i}: " + "Summarise the research finding and list three key points. " * 6


async def test_a_call_that_does_not_fit_waits_for_one_in_flight_to_settle() -> None:
    gate = BudgetGate(Budget(max_tokens=1000))
    first = await gate.reserve(600, 0.0)
    got: list[int] = []

    async def second() -> None:
        r = await gate.reserve(600, 0.0)
        got.append(r.tokens)

    async with anyio.create_task_group() as tg:
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        assert gate.waiting == 1 and got == []
        gate.settle(first, 300, 0.0)  # 300 spent, 600 fit again
    assert got == [600] and gate.budget.held_tokens == 600 and gate.exhausted is None


async def test_a_call_that_can_never_fit_is_refused_at_once() -> None:
    gate = BudgetGate(Budget(max_tokens=1000, spent_tokens=900))
    with pytest.raises(BudgetExhausted) as caught:
        await gate.reserve(200, 0.0)
    assert caught.value.shortfall.needed == 200 and caught.value.shortfall.left == 100
    assert gate.exhausted == caught.value.shortfall
    assert gate.budget.held_tokens == 0


async def test_a_waiter_is_refused_once_what_is_spent_leaves_it_no_room() -> None:
    gate = BudgetGate(Budget(max_tokens=1000))
    first = await gate.reserve(800, 0.0)
    outcome: list[str] = []

    async def second() -> None:
        try:
            await gate.reserve(500, 0.0)
            outcome.append("granted")
        except BudgetExhausted:
            outcome.append("refused")

    async with anyio.create_task_group() as tg:
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        gate.settle(first, 700, 0.0)  # 300 left with nothing held: 500 can never fit
    assert outcome == ["refused"] and gate.budget.held_tokens == 0


async def test_waiters_are_served_in_arrival_order() -> None:
    gate = BudgetGate(Budget(max_tokens=1000))
    first = await gate.reserve(900, 0.0)
    order: list[int] = []

    async def call(tokens: int) -> None:
        r = await gate.reserve(tokens, 0.0)
        order.append(tokens)
        gate.settle(r, 1, 0.0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, 500)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(call, 50)  # would fit now, but the big one came first
        await anyio.wait_all_tasks_blocked()
        assert order == []
        gate.settle(first, 1, 0.0)
    assert order == [500, 50]


async def test_a_cancelled_waiter_holds_nothing_and_lets_the_next_through() -> None:
    gate = BudgetGate(Budget(max_tokens=1000))
    await gate.reserve(900, 0.0)
    done: list[int] = []
    big = anyio.CancelScope()

    async def call(tokens: int) -> None:
        await gate.reserve(tokens, 0.0)
        done.append(tokens)

    async def cancellable() -> None:
        with big:
            await call(800)

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancellable)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(call, 50)  # fits beside the 900, but waits behind the 800
        await anyio.wait_all_tasks_blocked()
        assert (gate.waiting, done) == (2, [])
        big.cancel()  # the head goes: the 50 behind it fits and is served without a settle
    assert done == [50] and gate.waiting == 0
    assert gate.budget.held_tokens == 950


async def test_waiting_at_the_gate_does_not_count_against_a_timeout() -> None:
    gate = BudgetGate(Budget(max_tokens=100))
    first = await gate.reserve(100, 0.0)
    with anyio.CancelScope() as scope:
        scope.deadline = anyio.current_time() + 0.2

        async def settle_later() -> None:
            await anyio.sleep(0.4)
            gate.settle(first, 10, 0.0)

        async with anyio.create_task_group() as tg:
            tg.start_soon(settle_later)
            with deadline_held(scope):
                await gate.reserve(50, 0.0)  # waits 0.4 s, past the 0.2 s deadline
    assert not scope.cancelled_caught


def context(i: int, provider: Provider, gate: BudgetGate, run_dir: Path, text: str) -> TaskContext:
    spec = TaskSpec(id=f"t{i}", kind="llm", prompt=text.format(i=i))
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


async def swarm_of_calls(
    provider: Provider, gate: BudgetGate, run_dir: Path, text: str, workers: int = 300
) -> tuple[int, int]:
    """``workers`` one-call tasks at once; (calls answered, calls refused by the budget)."""
    answered = refused = 0

    async def one(i: int) -> None:
        nonlocal answered, refused
        ctx = context(i, provider, gate, run_dir, text)
        try:
            await ctx.call_model(ctx.request(ctx.spec.prompt))
            answered += 1
        except BudgetExhausted:
            refused += 1

    async with anyio.create_task_group() as tg:
        for i in range(workers):
            tg.start_soon(one, i)
    return answered, refused


@pytest.mark.parametrize("text", [CHINESE, ENGLISH], ids=["cjk", "ascii"])
@pytest.mark.parametrize(("max_tokens", "max_cost"), [(20_000, None), (None, 0.05)])
async def test_300_workers_counted_as_k26_never_spend_more_than_the_budget(
    tmp_path: Path, text: str, max_tokens: int | None, max_cost: float | None
) -> None:
    provider = K26Counting(SimProvider(latency=Latency.parse("fixed:0.01")))
    gate = BudgetGate(Budget(max_tokens=max_tokens, max_cost_usd=max_cost))
    answered, refused = await swarm_of_calls(provider, gate, tmp_path, text)
    budget = gate.budget
    assert answered + refused == 300 and answered > 0
    assert budget.held_tokens == 0
    if max_tokens is not None:
        assert budget.spent_tokens <= max_tokens
        # the calls refused were refused because the budget was used, not for being many
        assert refused == 0 or budget.spent_tokens > max_tokens - 300  # less than one call's room
    if max_cost is not None:
        assert budget.spent_cost_usd <= max_cost
    assert provider.peak > 8  # the calls really did run side by side


async def test_a_budget_enough_for_every_call_refuses_none_at_300_workers(tmp_path: Path) -> None:
    """Defect 3 of issue 16: worst-case reservations used the budget at once and the rest
    failed; now they wait, and every call that the budget can pay for runs."""
    provider = K26Counting(SimProvider(latency=Latency.parse("fixed:0.01")))
    gate = BudgetGate(Budget(max_tokens=60_000))
    answered, refused = await swarm_of_calls(provider, gate, tmp_path, CHINESE)
    assert (answered, refused) == (300, 0)
    assert gate.budget.spent_tokens <= 60_000

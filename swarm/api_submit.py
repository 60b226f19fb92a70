"""Plan a goal and run the plan while it is being written (``Swarm.submit``, ``swarm run``).

The run is recorded once the planner's header *and* its first valid task have been read: a
planner that gives no usable plan (a bad header, no valid task line) raises
:class:`PlannerError` and writes nothing. Each later task is dispatched as soon as its line is
valid and its dependencies have succeeded; a planner that fails after tasks have run leaves the
run recorded as failed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, cast

from planners import PlanEvent, PlanHeader, PlannerSettings, PlanReady, TaskReady, stream_plan
from swarm.api_settings import merged_budget, with_budget, with_model
from swarm.errors import PlannerError, Problem
from swarm.plan import Plan, TaskSpec
from swarm.providers.base import Provider
from swarm.providers.pricing import check_priced, price_table
from swarm.runtime import run as runs
from swarm.runtime.run import plan_models
from swarm.store.store import Store


async def submit_goal(
    store: Callable[[], Awaitable[Store]],
    goal: str,
    provider: Provider,
    options: runs.RunOptions,
    settings: PlannerSettings | None = None,
    *,
    images: Sequence[str] = (),
    run_id: str | None = None,
    hooks: runs.Hooks | None = None,
    budget: Mapping[str, Any] | None = None,
    defaults: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """Plan ``goal`` and run the plan while it is written; see the module docstring.

    ``store`` opens the database (called only once the plan has begun well); ``budget``
    overrides fields of the plan's budget, ``defaults`` its (model, reasoning effort)."""
    events = cast(
        AsyncGenerator[PlanEvent, None],
        stream_plan(goal, provider, settings or PlannerSettings(), images=images),
    )
    async with aclosing(events):
        header: PlanHeader | None = None
        async for event in events:
            if isinstance(event, PlanHeader):
                header = event
                break
            if isinstance(event, PlanReady):  # a whole-JSON answer with no header line
                whole = with_model(with_budget(event.plan, budget), *defaults)
                _check_prices(whole, options)
                return await runs.execute(
                    await store(), whole, provider, options, run_id=run_id, hooks=hooks
                )
        if header is None:
            raise _no_plan("the planner's answer ended before its plan began")
        limits = merged_budget(header.budget, budget or {})
        plan = with_model(
            Plan.model_construct(
                goal=header.goal, defaults=header.defaults, budget=limits, tasks=[]
            ),
            *defaults,
        )
        _check_prices(plan, options)
        first = await _first_task(events)

        async def tasks() -> AsyncIterator[TaskSpec]:
            yield first
            async for event in events:
                if isinstance(event, TaskReady):
                    yield event.spec

        return await runs.execute_streamed(
            await store(), plan, tasks(), provider, options, run_id=run_id, hooks=hooks
        )


async def _first_task(events: AsyncGenerator[PlanEvent, None]) -> TaskSpec:
    """The plan's first valid task; a planner that gives up before it raises its error."""
    async for event in events:
        if isinstance(event, TaskReady):
            return event.spec
    raise _no_plan("the planner's answer has no valid task")


def _no_plan(why: str) -> PlannerError:
    return PlannerError([Problem("plan", "", why)], attempts=1)


def _check_prices(plan: Plan, options: runs.RunOptions) -> None:
    table = price_table(overrides=options.prices)
    check_priced(table, plan_models(plan), plan.budget.max_cost_usd)

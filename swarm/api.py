"""The Python API: open a store, execute or resume plans, watch a run's events as they happen.

::

    from swarm import Swarm

    async with Swarm("swarm.db") as sw:            # provider "sim" unless told otherwise
        summary = await sw.execute("examples/minimal.json")
        async with sw.start(plan) as run:           # run in the background …
            async for event in run.events():        # … and follow it live
                print(event["type"], event["task_id"])
        print(run.summary)

    summary = Swarm("swarm.db").execute_sync("examples/minimal.json")   # scripts, notebooks

Everything a run does is in the database; :meth:`Swarm.events` reads the event log, so it can
follow a run driven by another process too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
from sqlalchemy import select

from planners import (
    PlanEvent,
    PlanHeader,
    PlannerSettings,
    PlanReady,
    TaskReady,
    plan_goal,
    stream_plan,
)
from swarm.errors import PlannerError, Problem, RunNotFound
from swarm.plan import Plan, TaskSpec
from swarm.providers.base import Provider
from swarm.providers.factory import make_provider
from swarm.runtime import retrying
from swarm.runtime import run as runs
from swarm.store.engine import default_db, reader
from swarm.store.schema import events as events_table
from swarm.store.store import Store
from swarm.validation import validate_data, validate_file

T = TypeVar("T")
PlanLike = Plan | dict[str, Any] | str | Path
FINAL_EVENT = "run.finished"


async def submit_goal(
    store: Store,
    goal: str,
    provider: Provider,
    options: runs.RunOptions,
    settings: PlannerSettings | None = None,
    *,
    images: Sequence[str] = (),
    run_id: str | None = None,
    hooks: runs.Hooks | None = None,
    budget: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Plan ``goal`` and run the plan while it is being written: the run is recorded once the
    planner's header is read, and each task is dispatched as soon as its line is valid and its
    dependencies have succeeded. A planner that fails before its header writes nothing.
    ``budget`` overrides fields of the plan's budget (the CLI's --concurrency and the like)."""
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
                whole = with_budget(event.plan, budget)
                return await runs.execute(
                    store, whole, provider, options, run_id=run_id, hooks=hooks
                )
        if header is None:
            ended = Problem("plan", "", "the planner's answer ended before its plan began")
            raise PlannerError([ended], attempts=1)
        limits = header.budget.model_validate({**header.budget.model_dump(), **(budget or {})})
        plan = Plan.model_construct(
            goal=header.goal, defaults=header.defaults, budget=limits, tasks=[]
        )

        async def tasks() -> AsyncIterator[TaskSpec]:
            async for event in events:
                if isinstance(event, TaskReady):
                    yield event.spec

        return await runs.execute_streamed(
            store, plan, tasks(), provider, options, run_id=run_id, hooks=hooks
        )


def with_budget(plan: Plan, budget: dict[str, Any] | None) -> Plan:
    """``plan`` with some fields of its budget replaced (validated like a plan file's)."""
    if not budget:
        return plan
    merged = plan.budget.model_validate({**plan.budget.model_dump(), **budget})
    return plan.model_copy(update={"budget": merged})


def as_plan(plan: PlanLike) -> Plan:
    """A validated plan from a Plan, plan data, or a plan file's path."""
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, dict):
        return validate_data(plan)
    return validate_file(plan)


class Swarm:
    """A handle on one swarm database and one model provider."""

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        provider: str | Provider = "sim",
        artifacts_dir: str | Path = "swarm-runs",
    ) -> None:
        self.db = Path(db) if db is not None else default_db()
        self._provider_spec = provider
        self.artifacts_dir = Path(artifacts_dir)
        self._store: Store | None = None
        self._provider: Provider | None = None

    async def __aenter__(self) -> Swarm:
        self._store = await Store.open(self.db)
        spec = self._provider_spec
        self._provider = make_provider(spec) if isinstance(spec, str) else spec
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            if self._provider is not None and isinstance(self._provider_spec, str):
                await self._provider.aclose()
            if self._store is not None:
                await self._store.close()
        self._store = self._provider = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("use `async with Swarm(...) as sw:` before calling it")
        return self._store

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            raise RuntimeError("use `async with Swarm(...) as sw:` before calling it")
        return self._provider

    def options(self, *, fail_fast: bool = False) -> runs.RunOptions:
        return runs.RunOptions(
            provider=self.provider.name,
            fail_fast=fail_fast,
            artifacts_dir=str(self.artifacts_dir.resolve()),
        )

    async def execute(
        self, plan: PlanLike, *, run_id: str | None = None, fail_fast: bool = False
    ) -> dict[str, Any]:
        """Record and run a plan to its end; returns the run summary (as ``--json`` prints)."""
        return await runs.execute(
            self.store,
            as_plan(plan),
            self.provider,
            self.options(fail_fast=fail_fast),
            run_id=run_id,
        )

    async def plan(
        self, goal: str, *, images: Sequence[str] = (), settings: PlannerSettings | None = None
    ) -> Plan:
        """Ask the planner model for a validated plan (repaired up to twice, else PlanError)."""
        return await plan_goal(goal, self.provider, settings or PlannerSettings(), images=images)

    async def submit(
        self,
        goal: str,
        *,
        images: Sequence[str] = (),
        settings: PlannerSettings | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Plan and execute in one go; tasks start while the planner is still writing."""
        return await submit_goal(
            self.store,
            goal,
            self.provider,
            self.options(),
            settings,
            images=images,
            run_id=run_id,
        )

    async def resume(self, run_id: str, *, limits: dict[str, Any] | None = None) -> dict[str, Any]:
        """Continue a run from the database; finished tasks are not run again. ``limits``
        changes budget fields first (``{"max_tokens": 50_000}``): a paused run goes on."""
        return await runs.resume(self.store, run_id, self.provider, limits=limits)

    async def retry(
        self, run_id: str, *, tasks: Sequence[str] = (), limits: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Give failed tasks (all, or ``tasks``) new attempts, un-skip their descendants, keep
        every succeeded result, and resume the run (see ``swarm retry``)."""
        return await retrying.retry(self.store, run_id, self.provider, tasks=tasks, limits=limits)

    @asynccontextmanager
    async def start(
        self, plan: PlanLike, *, run_id: str | None = None, fail_fast: bool = False
    ) -> AsyncIterator[RunHandle]:
        """Run a plan in the background for the body of the ``async with``; the block's end
        waits for the run to finish."""
        handle = RunHandle(self, run_id or runs.new_run_id())
        checked = as_plan(plan)
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                handle._drive, self.execute(checked, run_id=handle.run_id, fail_fast=fail_fast)
            )
            yield handle

    async def events(
        self, run_id: str, *, follow: bool = False, poll_s: float = 0.1
    ) -> AsyncIterator[dict[str, Any]]:
        """The run's event log in order; with ``follow``, keep reading until the run ends."""
        last = 0
        while True:
            rows = await self._events_after(run_id, last)
            for row in rows:
                last = row["id"]
                yield row
                if row["type"] == FINAL_EVENT and follow:
                    return
            if not follow:
                return
            if not rows:
                await anyio.sleep(poll_s)

    async def _events_after(self, run_id: str, after: int) -> list[dict[str, Any]]:
        e = events_table
        query = (
            select(e.c.id, e.c.at, e.c.type, e.c.task_id, e.c.attempt, e.c.data_json)
            .where(e.c.run_id == run_id, e.c.id > after)
            .order_by(e.c.id)
            .limit(1000)
        )
        async with reader(self.store.engine).connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "id": r.id,
                "at": r.at,
                "type": r.type,
                "task_id": r.task_id,
                "attempt": r.attempt,
                "data": json.loads(r.data_json) if r.data_json else None,
            }
            for r in rows
        ]

    # -- sync wrappers for scripts and notebooks -------------------------------------------

    def execute_sync(self, plan: PlanLike, **kwargs: Any) -> dict[str, Any]:
        return self._sync(lambda sw: sw.execute(plan, **kwargs))

    def plan_sync(self, goal: str, **kwargs: Any) -> Plan:
        return self._sync(lambda sw: sw.plan(goal, **kwargs))

    def submit_sync(self, goal: str, **kwargs: Any) -> dict[str, Any]:
        return self._sync(lambda sw: sw.submit(goal, **kwargs))

    def resume_sync(self, run_id: str) -> dict[str, Any]:
        return self._sync(lambda sw: sw.resume(run_id))

    def _sync(self, call: Callable[[Swarm], Awaitable[T]]) -> T:
        async def main() -> T:
            async with Swarm(
                self.db, provider=self._provider_spec, artifacts_dir=self.artifacts_dir
            ) as sw:
                return await call(sw)

        return anyio.run(main)


class RunHandle:
    """A run started with :meth:`Swarm.start`: follow its events, then read its summary."""

    def __init__(self, swarm: Swarm, run_id: str) -> None:
        self.swarm = swarm
        self.run_id = run_id
        self.summary: dict[str, Any] | None = None
        self.done = anyio.Event()

    async def _drive(self, work: Awaitable[dict[str, Any]]) -> None:
        try:
            self.summary = await work
        finally:
            self.done.set()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every event of the run as it happens, ending with ``run.finished``."""
        while not await self.swarm.store.run_exists(self.run_id):
            if self.done.is_set():
                raise RunNotFound(self.run_id, str(self.swarm.db))
            await anyio.sleep(0.02)
        async for event in self.swarm.events(self.run_id, follow=True):
            yield event

    async def wait(self) -> dict[str, Any]:
        """The run's summary once it has ended."""
        await self.done.wait()
        assert self.summary is not None
        return self.summary

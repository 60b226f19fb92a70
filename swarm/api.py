"""The Python API: open a database, run or resume plans, follow a run's events, read its results.

::

    from swarm import Swarm

    async with Swarm("swarm.db") as sw:            # provider "sim" unless told otherwise
        summary = await sw.execute("examples/minimal.json", concurrency=8)
        async with sw.start(plan) as run:           # a run in the background …
            async for event in run.events():        # … followed live
                print(event.type, event.task_id)
        for task in await sw.results(run.run_id):
            print(task.task_id, task.status, task.result)

    summary = Swarm("swarm.db").execute_sync("examples/minimal.json")   # scripts, notebooks

Everything a run does is in the database; :meth:`Swarm.events` reads the event log, so it can
follow a run driven by another process too. The CLI's ``execute``, ``run`` and ``resume`` are
built on this class, so a flag and its keyword argument cannot drift apart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import getpass
import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
from typing_extensions import Unpack

from planners import PlannerSettings, plan_goal
from swarm.api_settings import Prepared, RunSettings, budget_overrides, prepare
from swarm.api_submit import submit_goal
from swarm.api_types import (
    ApprovalDecision,
    Artifact,
    PendingApproval,
    RunEvent,
    RunInfo,
    RunSummary,
    TaskResult,
)
from swarm.defaults import ARTIFACTS_DIR
from swarm.errors import RunNotFound
from swarm.orchestrate import check_mode, orchestrator_plan
from swarm.plan import Plan
from swarm.providers.base import Provider
from swarm.providers.factory import make_provider
from swarm.runtime import retrying
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.approvals import ApprovalStore
from swarm.store.engine import default_db, exists
from swarm.store.queries import Queries
from swarm.store.store import Store
from swarm.store.target import as_target, shown
from swarm.validation import validate_data, validate_file

T = TypeVar("T")
PlanLike = Plan | dict[str, Any] | str | Path
FINAL_EVENT = "run.finished"


class SwarmWarning(UserWarning):
    """Something a run's caller should know that does not stop it (a model with no price)."""


def as_plan(plan: PlanLike) -> Plan:
    """A validated plan from a Plan, plan data, or a plan file's path."""
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, dict):
        return validate_data(plan)
    return validate_file(plan)


class Swarm:
    """A handle on one swarm database and one model provider.

    ``provider`` is a name (``sim``, ``replicate``, ``openai``; ``base_url`` and
    ``rate_limit`` apply to the remote ones) or a :class:`~swarm.providers.base.Provider`.
    Left out, runs use ``sim`` and :meth:`resume` uses the provider the run was started with.
    Nothing is written until a run starts: the database is opened on first use.
    """

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        provider: str | Provider | None = None,
        artifacts_dir: str | Path = ARTIFACTS_DIR,
        base_url: str | None = None,
        rate_limit: int | None = None,
    ) -> None:
        self.db = as_target(db) if db is not None else default_db()
        self._provider_spec = provider
        self.artifacts_dir = Path(artifacts_dir)
        self.base_url = base_url
        self.rate_limit = rate_limit
        self._store: Store | None = None
        self._provider: Provider | None = None
        self._owned: list[Provider] = []
        self._entered = False
        self._opening = anyio.Lock()
        """One store per Swarm, however many tasks ask for it at once."""

    async def __aenter__(self) -> Swarm:
        self._entered = True
        if self._provider_spec is not None:
            self._provider = self._make(self._provider_spec)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            for provider in self._owned:
                await provider.aclose()
            if self._store is not None:
                await self._store.close()
        self._store = self._provider = None
        self._owned = []
        self._entered = False

    def _make(self, spec: str | Provider) -> Provider:
        if not isinstance(spec, str):
            return spec
        made = make_provider(spec, base_url=self.base_url, rate_limit=self.rate_limit)
        self._owned.append(made)
        return made

    @property
    def provider(self) -> Provider:
        """The provider runs use (``sim`` if none was given)."""
        self._check_entered()
        if self._provider is None:
            self._provider = self._make("sim")
        return self._provider

    async def store(self) -> Store:
        """The open database (opened, and created if missing, on first use)."""
        self._check_entered()
        async with self._opening:
            if self._store is None:
                self._store = await Store.open(self.db)
        return self._store

    def _check_entered(self) -> None:
        if not self._entered:
            raise RuntimeError("use `async with Swarm(...) as sw:` before calling it")

    # -- runs -------------------------------------------------------------------------------

    def prepare(self, plan: PlanLike, **settings: Unpack[RunSettings]) -> Prepared:
        """Check a plan and settings as :meth:`execute` does, without running anything."""
        provider = self.provider
        return prepare(
            as_plan(plan),
            settings,
            provider=provider.name,
            artifacts_dir=self.artifacts_dir,
            base_url=self.base_url,
            rate_limit=self.rate_limit,
        )

    async def execute(
        self,
        plan: PlanLike,
        *,
        hooks: runs.Hooks | None = None,
        wait_approvals: bool = False,
        **settings: Unpack[RunSettings],
    ) -> RunSummary:
        """Record and run a plan to its end. ``settings`` (:class:`RunSettings`) override the
        plan's budget and defaults; ``hooks`` feed a live display. Every check that can fail
        is made before anything is written. A run whose only remaining work waits for
        approvals ends ``waiting`` (resumable), or with ``wait_approvals`` keeps waiting."""
        ready = self.prepare(plan, **settings)
        return await self.execute_prepared(ready, hooks, wait_approvals=wait_approvals)

    async def execute_prepared(
        self, ready: Prepared, hooks: runs.Hooks | None = None, *, wait_approvals: bool = False
    ) -> RunSummary:
        """Run what :meth:`prepare` checked (the CLI shows its warnings before the run)."""
        hooks = _waiting(hooks, wait_approvals)
        _warn(ready.warnings, hooks)
        store = await self.store()
        data = await runs.execute(
            store, ready.plan, self.provider, ready.options, run_id=ready.run_id, hooks=hooks
        )
        return RunSummary.from_dict(data)

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
        planner: PlannerSettings | None = None,
        hooks: runs.Hooks | None = None,
        mode: str = "plan",
        **settings: Unpack[RunSettings],
    ) -> RunSummary:
        """Plan and execute in one go; tasks start while the planner is still writing. A
        planner that gives no valid task writes nothing (:class:`PlannerError`).

        ``mode="orchestrate"``: no plan; the run's root is one ``orchestrator`` task with the
        goal as its task, spawning sub-agents as it goes (``docs/orchestrator.md``)."""
        if check_mode(mode, images) == "orchestrate":
            return await self.execute(orchestrator_plan(goal), hooks=hooks, **settings)
        ready = prepare(
            Plan.model_construct(goal=goal, tasks=[]),
            settings,
            provider=self.provider.name,
            artifacts_dir=self.artifacts_dir,
            base_url=self.base_url,
            rate_limit=self.rate_limit,
        )
        _warn(ready.warnings, hooks)
        data = await submit_goal(
            self.store,
            goal,
            self.provider,
            ready.options,
            planner,
            images=images,
            run_id=ready.run_id,
            hooks=hooks,
            budget=budget_overrides(settings),
            defaults=(settings.get("model"), settings.get("reasoning_effort")),
        )
        return RunSummary.from_dict(data)

    async def resume(
        self,
        run_id: str,
        *,
        hooks: runs.Hooks | None = None,
        limits: Mapping[str, Any] | None = None,
        wait_approvals: bool = False,
    ) -> RunSummary:
        """Continue a run from the database; finished tasks are not run again, failed ones stay
        failed (see :meth:`retry`). ``limits`` changes budget fields first
        (``{"max_tokens": 50_000}``): a paused run goes on. Approvals decided meanwhile take
        effect now; ``wait_approvals`` keeps the run going while it waits for more. Without a
        provider of its own, this Swarm uses the one the run was started with."""
        store = await self._existing_store(run_id)
        provider = await self._provider_of(store, run_id)
        hooks = _waiting(hooks, wait_approvals)
        data = await runs.resume(store, run_id, provider, hooks=hooks, limits=limits)
        return RunSummary.from_dict(data)

    async def retry(
        self,
        run_id: str,
        *,
        tasks: Sequence[str] = (),
        hooks: runs.Hooks | None = None,
        limits: Mapping[str, Any] | None = None,
    ) -> RunSummary:
        """Give failed tasks (all, or ``tasks``) new attempts, un-skip their descendants, keep
        every succeeded result, and resume the run (see ``swarm retry``)."""
        store = await self._existing_store(run_id)
        provider = await self._provider_of(store, run_id)
        data = await retrying.retry(
            store, run_id, provider, tasks=tasks, hooks=hooks, limits=limits
        )
        return RunSummary.from_dict(data)

    # -- approvals --------------------------------------------------------------------------

    async def approvals(self, run_id: str | None = None) -> list[PendingApproval]:
        """What waits for a decision, in one run or in all (oldest request first)."""
        store = await self.store() if run_id is None else await self._existing_store(run_id)
        return [PendingApproval.of(p) for p in await ApprovalStore(store).pending(run_id)]

    async def approve(
        self, run_id: str, task_id: str, *, note: str | None = None, by: str | None = None
    ) -> ApprovalDecision:
        """Let a waiting task run (from any process, while its run goes or not: a live driver
        applies it within a second, a stopped run at its next resume). ``by`` defaults to the
        OS user. Once only: :class:`AlreadyDecided` if it was decided."""
        return await self._decide(run_id, task_id, "approved", note, by)

    async def reject(
        self, run_id: str, task_id: str, *, note: str | None = None, by: str | None = None
    ) -> ApprovalDecision:
        """Fail a waiting task with ``note`` (its descendants are skipped); as :meth:`approve`."""
        return await self._decide(run_id, task_id, "rejected", note, by)

    async def _decide(
        self, run_id: str, task_id: str, decision: str, note: str | None, by: str | None
    ) -> ApprovalDecision:
        store = await self._existing_store(run_id)
        made = await ApprovalStore(store).decide(
            run_id, task_id, decision, by=by or _os_user(), note=note
        )
        return ApprovalDecision(
            run_id, task_id, made.attempt, made.decision, made.decided_by, made.decided_at, note
        )

    async def _provider_of(self, store: Store, run_id: str) -> Provider:
        """This Swarm's provider, or else the one the run was started with."""
        if self._provider is None:
            options = runs.RunOptions.from_config((await store.load_run(run_id)).config)
            self._provider = self._owned_provider(options)
        return self._provider

    def _owned_provider(self, options: runs.RunOptions) -> Provider:
        made = make_provider(
            options.provider, base_url=options.base_url, rate_limit=options.rate_limit
        )
        self._owned.append(made)
        return made

    @asynccontextmanager
    async def start(
        self,
        plan: PlanLike,
        *,
        hooks: runs.Hooks | None = None,
        **settings: Unpack[RunSettings],
    ) -> AsyncIterator[RunHandle]:
        """Run a plan in the background for the body of the ``async with``.

        Leaving the block before the run has ended cancels it (it stays resumable); to wait
        for its end, ``await run.wait()`` inside the block. An exception raised in the block
        cancels the run too, and comes out of the block as itself."""
        ready = self.prepare(plan, **settings)
        handle = RunHandle(self, ready.run_id or runs.new_run_id())
        ready = Prepared(ready.plan, ready.options, handle.run_id, ready.warnings)
        user_hooks = hooks or runs.Hooks()
        watched = dataclasses.replace(user_hooks, on_start=handle._attach(user_hooks.on_start))
        raised: BaseException | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(handle._drive, self.execute_prepared(ready, watched))
            try:
                yield handle
            except Exception as exc:  # the caller's own error: stop the run, then re-raise it
                raised = exc
            handle.cancel()
            await handle.done.wait()
        if raised is not None:
            raise raised
        if handle.error is not None:
            raise handle.error

    # -- reading runs -----------------------------------------------------------------------

    async def runs(self, *, limit: int = 20) -> list[RunInfo]:
        """The database's runs, newest first."""
        if not exists(self.db):
            return []
        return [RunInfo.of(row) for row in await Queries(await self.store()).runs(limit)]

    async def results(self, run_id: str) -> list[TaskResult]:
        """The run's tasks, in the order they were added, with their results or errors."""
        detail = await Queries(await self._existing_store(run_id)).detail(run_id)
        return [TaskResult.of(task) for task in detail.tasks]

    async def artifacts(self, run_id: str) -> list[Artifact]:
        """The files the run's tasks wrote, with their absolute paths."""
        detail = await Queries(await self._existing_store(run_id)).detail(run_id)
        return [Artifact.of(row, detail.artifacts_dir) for row in detail.artifacts]

    async def events(
        self, run_id: str, *, follow: bool = False, poll_s: float = 0.1
    ) -> AsyncIterator[RunEvent]:
        """The run's event log in order; with ``follow``, keep reading until the run ends."""
        queries = Queries(await self._existing_store(run_id))
        last = 0
        while True:
            rows = await queries.events(run_id, after_id=last, limit=1000)
            for row in rows:
                last = row.id
                yield RunEvent.of(row)
                if row.type == FINAL_EVENT and follow:
                    return
            if not follow:
                return
            if not rows:
                await anyio.sleep(poll_s)

    async def _existing_store(self, run_id: str) -> Store:
        """The store, for reading a run: a missing database file is not created."""
        if self._store is None and not exists(self.db):
            raise RunNotFound(run_id, shown(self.db))
        return await self.store()

    # -- sync wrappers for scripts and notebooks ---------------------------------------------

    def execute_sync(self, plan: PlanLike, **settings: Unpack[RunSettings]) -> RunSummary:
        return self._sync(lambda sw: sw.execute(plan, **settings))

    def plan_sync(self, goal: str, *, images: Sequence[str] = ()) -> Plan:
        return self._sync(lambda sw: sw.plan(goal, images=images))

    def submit_sync(
        self, goal: str, *, mode: str = "plan", **settings: Unpack[RunSettings]
    ) -> RunSummary:
        return self._sync(lambda sw: sw.submit(goal, mode=mode, **settings))

    def resume_sync(self, run_id: str) -> RunSummary:
        return self._sync(lambda sw: sw.resume(run_id))

    def results_sync(self, run_id: str) -> list[TaskResult]:
        return self._sync(lambda sw: sw.results(run_id))

    def artifacts_sync(self, run_id: str) -> list[Artifact]:
        return self._sync(lambda sw: sw.artifacts(run_id))

    def runs_sync(self, *, limit: int = 20) -> list[RunInfo]:
        return self._sync(lambda sw: sw.runs(limit=limit))

    def _sync(self, call: Callable[[Swarm], Awaitable[T]]) -> T:
        """Run ``call`` on a fresh Swarm in its own event loop; inside a running loop (a
        Jupyter cell) that loop is in a worker thread, and this call blocks until it is done."""

        async def main() -> T:
            fresh = Swarm(
                self.db,
                provider=self._provider_spec,
                artifacts_dir=self.artifacts_dir,
                base_url=self.base_url,
                rate_limit=self.rate_limit,
            )
            async with fresh as sw:
                return await call(sw)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return anyio.run(main)
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="swarm-sync") as pool:
            return pool.submit(anyio.run, main).result()


def _waiting(hooks: runs.Hooks | None, wait_approvals: bool) -> runs.Hooks | None:
    """``hooks`` that keep a run waiting for approvals, if asked to."""
    if not wait_approvals:
        return hooks
    return dataclasses.replace(hooks or runs.Hooks(), wait_approvals=True)


def _os_user() -> str:
    """Who decides when the caller names nobody: the OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"uid {os.getuid()}"


def _warn(messages: Sequence[str], hooks: runs.Hooks | None) -> None:
    for message in messages:
        if hooks is not None and hooks.on_warning is not None:
            hooks.on_warning(message)
        else:
            warnings.warn(message, SwarmWarning, stacklevel=4)


class RunHandle:
    """A run started with :meth:`Swarm.start`: follow its events, cancel it, read its summary."""

    def __init__(self, swarm: Swarm, run_id: str) -> None:
        self.swarm = swarm
        self.run_id = run_id
        self.summary: RunSummary | None = None
        """Set once the run has ended."""
        self.error: BaseException | None = None
        """Why the run could not be driven to an end (it raised), if it did."""
        self.done = anyio.Event()
        self._driver: RunDriver | None = None
        self._cancel = False

    def _attach(self, then: Callable[[RunDriver], None] | None) -> Callable[[RunDriver], None]:
        def attach(driver: RunDriver) -> None:
            self._driver = driver
            if self._cancel:
                driver.cancel()
            if then is not None:
                then(driver)

        return attach

    async def _drive(self, work: Awaitable[RunSummary]) -> None:
        try:
            self.summary = await work
        except Exception as exc:  # kept for the block's end and wait(), never a task group's
            self.error = exc
        finally:
            self.done.set()

    def cancel(self) -> None:
        """Stop the run: no new task starts, the running ones are cancelled, and the run is
        recorded as ``cancelled`` (resumable with :meth:`Swarm.resume`). Returns at once;
        ``await wait()`` for the summary."""
        if self.done.is_set():
            return
        self._cancel = True
        if self._driver is not None:
            self._driver.cancel()

    async def events(self) -> AsyncIterator[RunEvent]:
        """Every event of the run as it happens, ending with ``run.finished``."""
        store = await self.swarm.store()
        while not await store.run_exists(self.run_id):
            if self.done.is_set():
                if self.error is not None:
                    raise self.error
                raise RunNotFound(self.run_id, shown(self.swarm.db))
            await anyio.sleep(0.02)
        async for event in self.swarm.events(self.run_id, follow=True):
            yield event

    async def wait(self) -> RunSummary:
        """The run's summary once it has ended (or the error that stopped it)."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        return self.summary

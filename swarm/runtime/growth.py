"""Tasks added to a live run: tasks streamed from the planner, fan-out expansions and
sub-plans, and revisions of failed branches. Mixed into :class:`~swarm.runtime.driver.RunDriver`;
every addition is recorded (``TasksAdded``) before the core schedules it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from anyio.abc import TaskGroup

from swarm.core.scheduler import Dispatch, Failed, Scheduler, Status, TaskInfo
from swarm.errors import SwarmError, TaskError
from swarm.plan import Plan, TaskSpec
from swarm.store.ops import (
    AddedTask,
    AttemptFinished,
    Event,
    TasksAdded,
    TasksReplaced,
    TasksSkipped,
)
from swarm.store.writer import Writer
from workers.base import TaskContext
from workers.orchestrator_turns import stage_of

if TYPE_CHECKING:
    from swarm.runtime.driver import RunState

Replanner = Callable[[str, str, list[TaskSpec], dict[str, str], int], Awaitable[list[TaskSpec]]]
"""(failed id, error, branch specs, results so far, revision number) → replacement tasks."""


class RunGrowth:
    """The part of the driver that adds tasks to a run while it goes."""

    run_id: str
    plan: Plan
    specs: dict[str, TaskSpec]
    core: Scheduler
    writer: Writer
    state: RunState
    make_info: Callable[[TaskSpec, int], TaskInfo] | None
    replan: Replanner | None
    max_replans: int
    replans: int
    cancelled: bool
    _tg: TaskGroup | None
    _pending_infos: dict[str, TaskInfo]
    _adds_in_flight: int
    _expanding: dict[str, list[str]]
    _spawned: dict[str, list[str]] | None = None
    """Task id → the sub-agents it spawned (see :meth:`spawned_by`)."""
    _pump: Callable[[], None]
    _submit_result: Callable[[AttemptFinished], None]

    def add_tasks(
        self, specs: Sequence[TaskSpec], *, reason: str = "plan", replace: TaskSpec | None = None
    ) -> None:
        """Add tasks to the live run: recorded first, scheduled once the record is committed.

        Dependencies must name tasks already in the run (the caller validates the order).
        ``replace`` updates an existing task's spec in the stored plan in the same record (a
        fan-out task that now also depends on the tasks it added), and its row's deps: those
        of its spec and every sub-agent it has spawned (an orchestrator waits on them rather
        than depending on them in its spec, but the stored DAG connects them).
        """
        if not specs and replace is None:
            return
        assert self.make_info is not None, "this driver was not set up to add tasks"
        tasks = list(self.plan.tasks)
        if replace is not None:
            tasks = [replace if t.id == replace.id else t for t in tasks]
            self.specs[replace.id] = replace
        self.plan = self.plan.model_copy(update={"tasks": [*tasks, *specs]})
        added = []
        for spec in specs:
            self.specs[spec.id] = spec
            self._note_spawned(spec.id)
            info = self.make_info(spec, len(self.specs) - 1)
            self._pending_infos[spec.id] = info
            added.append(AddedTask(spec.id, spec.kind, tuple(spec.deps), info.priority, spec.title))
        changed: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if replace is not None:
            row_deps = tuple(dict.fromkeys([*replace.deps, *self.spawned_by(replace.id)]))
            changed = ((replace.id, row_deps),)
        self.writer.submit(
            TasksAdded(self.run_id, tuple(added), time.time(), self.plan.to_json(), reason, changed)
        )
        self._adds_in_flight += 1

    def spawned_by(self, task_id: str) -> list[str]:
        """The sub-agents a task has spawned (ids ``<task id>:s<stage>-<n>``), in order; the
        index is built from the plan on first use, so a resumed run has it too."""
        if self._spawned is None:
            self._spawned = {}
            for spec_id in self.specs:
                self._note_spawned(spec_id)
        return self._spawned.get(task_id, [])

    def _note_spawned(self, task_id: str) -> None:
        found = stage_of(task_id)
        if found is not None and self._spawned is not None:
            self._spawned.setdefault(found[0], []).append(task_id)

    def _tasks_added(self, op: TasksAdded) -> None:
        self._adds_in_flight -= 1
        for task in op.tasks:
            info = self._pending_infos.pop(task.task_id)
            if not self.core.add_task(info):
                failed = next(d for d in info.deps if self.core.status(d) is not Status.SUCCEEDED)
                self.writer.submit(TasksSkipped(self.run_id, (info.id,), failed, time.time()))

    def _expand(self, d: Dispatch, ctx: TaskContext, common: dict[str, Any]) -> TaskError | None:
        """Record a fan-out's new tasks; the fan-out task then waits for them (see on_commit)."""
        children = list(ctx.expansion)
        taken = [c.id for c in children if c.id in self.specs]
        if taken:
            return TaskError(f"fan-out task ids already exist: {taken[:5]}", retryable=False)
        spec = self.specs[d.task_id]
        joined = spec.model_copy(update={"deps": [*spec.deps, *(c.id for c in children)]})
        self.add_tasks(children, reason="expand", replace=joined)
        self._expanding[d.task_id] = [c.id for c in children]
        self._submit_result(
            AttemptFinished(**common, outcome="succeeded", task_status="pending", result=None)
        )
        return None

    def _maybe_replan(self, failed: Failed, error: str) -> None:
        if self.replan is None or self.replans >= self.max_replans or self._tg is None:
            return
        if self.cancelled or self.core.halted:
            return
        self.replans += 1
        self.core.hold()  # the run stays open until the revision is in
        self._tg.start_soon(self._replan, failed, error, self.replans)

    async def _replan(self, failed: Failed, error: str, revision: int) -> None:
        """Ask for a revision of the failed branch; run its tasks instead of the branch's."""
        assert self.replan is not None
        branch = [self.specs[failed.task_id], *(self.specs[t] for t in failed.skipped)]
        try:
            new = await self.replan(
                failed.task_id, error, branch, dict(self.state.results), revision
            )
        except SwarmError as exc:
            note = {"failed": failed.task_id, "revision": revision, "error": str(exc)}
            self.writer.submit(Event(self.run_id, "plan.revision_failed", time.time(), data=note))
            return
        finally:
            self.core.release()
        replaced = [spec.id for spec in branch]
        self.core.replace(replaced)
        self.writer.submit(TasksReplaced(self.run_id, tuple(replaced), revision, time.time()))
        self.add_tasks(new, reason="replan")
        data = {
            "revision": revision,
            "failed": failed.task_id,
            "error": error,
            "replaced": replaced,
            "added": [spec.id for spec in new],
        }
        self.writer.submit(Event(self.run_id, "plan.revised", time.time(), data=data))
        self._pump()

"""The ``subplan`` kind: hierarchical decomposition at run time. The task's prompt is a sub-goal;
the planner turns it into a plan whose tasks join the run, and the task then returns the results
of that plan's final tasks.

Like ``map`` (see ``workers/fanout.py``) it runs twice. First it plans the sub-goal through the
task's own metered model calls (so planning counts against the task's steps and the run's token
and dollar budgets), prefixes the sub-plan's ids with ``<task id>:`` and asks the runtime to add
them; the runtime records them before any starts and makes this task wait for them. Run again,
it returns ``{sub-task id: result}`` for every task of the sub-plan. The sub-plan's tasks draw their
steps from the run's pool and take the run's defaults (the sub-plan's own defaults and budget are
not applied).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from planners import PlannerSettings, plan_goal
from swarm.errors import PlanError, Problem, TaskError
from swarm.plan import TaskSpec, prefixed
from swarm.providers.base import ModelRequest, ModelResponse
from workers.base import TaskContext
from workers.rules import subplan as rules

DEFAULT_MAX_TASKS = 30


class _Metered:
    """The planner's provider: every call goes through the task's metered ``call_model``."""

    name = "metered"
    simulated = False

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx

    async def complete(self, request: ModelRequest) -> ModelResponse:
        ctx = self.ctx
        keyed = ctx.request(request.prompt)
        fields = {k: getattr(request, k) for k in ModelRequest.__dataclass_fields__}
        fields["call_key"], fields["journal"] = keyed.call_key, keyed.journal
        return await ctx.call_model(ModelRequest(**fields))

    async def aclose(self) -> None:
        return None


class SubplanWorker:
    kind: ClassVar[str] = "subplan"
    description: ClassVar[str] = (
        "hierarchical decomposition: the prompt is a sub-goal that the planner turns into tasks "
        "added to the run at run time; returns the results of the sub-plan's final tasks"
    )
    default_steps: ClassVar[int] = 4

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        prefix = f"{ctx.spec.id}:"
        done = {k[len(prefix) :]: v for k, v in ctx.inputs.items() if k.startswith(prefix)}
        if done:
            return json.dumps({k: _as_json(v) for k, v in sorted(done.items())}, ensure_ascii=False)
        problems = self.check(ctx.spec)
        if problems:
            raise TaskError(str(problems[0]), retryable=False)
        settings = PlannerSettings(
            model=ctx.model,
            max_tasks=int(ctx.spec.config.get("max_tasks", DEFAULT_MAX_TASKS)),
            max_repairs=int(ctx.spec.config.get("max_repairs", 2)),
        )
        goal = _goal(ctx)
        try:
            plan = await plan_goal(goal, _Metered(ctx), settings)
        except PlanError as exc:
            raise TaskError(f"the sub-plan was rejected: {exc}", retryable=False) from None
        try:
            children = [prefixed(spec, prefix) for spec in plan.tasks]
        except ValueError as exc:
            raise TaskError(f"the sub-plan's task ids do not fit: {exc}", retryable=False) from None
        ctx.expansion.extend(children)
        return "{}"  # only if the sub-plan were empty: nothing to wait for


def _goal(ctx: TaskContext) -> str:
    if not ctx.inputs:
        return ctx.spec.prompt
    context = "\n".join(f"- {k}: {v[:500]}" for k, v in ctx.inputs.items())
    return f"{ctx.spec.prompt}\n\nWhat is already known (results of earlier tasks):\n{context}"


def _as_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text

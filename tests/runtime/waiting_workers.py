"""A task kind for the tests of waiting: an orchestrator that starts sub-tasks and waits for
them (``TaskContext.wait_on``), then answers with what they returned."""

from __future__ import annotations

from typing import ClassVar

from swarm.plan import Problem, TaskSpec
from workers.base import TaskContext

SPAWNER = "tests.runtime.waiting_workers:Spawner"


class Spawner:
    """Attempt 1 adds ``config.children`` llm tasks (``<id>.0``, ``<id>.1``, …) and waits on
    them, or on ``config.wait_on`` if given; a later attempt returns ``joined <n>``."""

    kind: ClassVar[str] = "spawner"
    description: ClassVar[str] = "test orchestrator: starts sub-tasks and waits for them"
    default_steps: ClassVar[int] = 1
    runs: ClassVar[list[tuple[str, int]]] = []

    def check(self, spec: TaskSpec) -> list[Problem]:
        return []

    async def run(self, ctx: TaskContext) -> str:
        type(self).runs.append((ctx.spec.id, ctx.attempt))
        if ctx.attempt > 1:
            return f"joined {ctx.attempt}"
        n = int(ctx.spec.config.get("children", 2))
        children = [
            TaskSpec(id=f"{ctx.spec.id}.{i}", kind="llm", prompt=f"sub {i}") for i in range(n)
        ]
        ctx.expansion.extend(children)
        wanted = ctx.spec.config.get("wait_on")
        ctx.wait_on = tuple(wanted) if wanted is not None else tuple(c.id for c in children)
        return ""

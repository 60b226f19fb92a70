"""The planner: ask the model for a plan, read it as untrusted text, validate it, and re-ask with
the validator's exact problems until it is right or the repairs run out.

:func:`plan_goal` returns a whole plan. :func:`stream_plan` yields each task as soon as its line
is read and valid, so a run can dispatch it before the plan is complete (as LLMCompiler does);
its last event is the whole plan. For the same model answer both give the same plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import get_args

import networkx as nx

from planners.events import PlanEvent, PlanHeader, PlanReady, RepairStarted, TaskReady
from planners.lines import PlanLineParser
from planners.prompt import (
    Limits,
    PlanningPrompt,
    build_prompt,
    continuation_prompt,
    repair_prompt,
)
from planners.streaming import text_chunks
from swarm.dag import build_graph
from swarm.errors import ConfigError, PlanError, PlannerError
from swarm.plan import DEFAULT_MODEL, Plan, ReasoningEffort
from swarm.providers.base import ModelRequest, Provider

MAX_GOAL_CHARS = 20_000
REASONING_EFFORTS = get_args(ReasoningEffort)


@dataclass(frozen=True)
class PlannerSettings:
    """How the planner asks: model, reasoning, output size, plan limits and repairs."""

    model: str = DEFAULT_MODEL
    reasoning_effort: str = "high"
    """Planning is multi-step reasoning: K2.6 plans better with its thinking on."""
    max_tokens: int = 16384
    """Room for the thinking trace and the plan (K2.6 allows up to 32,768)."""
    max_tasks: int = 300
    max_repairs: int = 2
    """Re-asks after the first answer; the planner gives up after the last one."""
    concurrency: int = 64
    step_pool: int = 4000

    @property
    def limits(self) -> Limits:
        return Limits(self.max_tasks, self.concurrency, self.step_pool)


def check_request(goal: str, settings: PlannerSettings) -> None:
    """Refuse a goal or settings the planner cannot work with (ConfigError), before any call."""
    if not goal.strip():
        raise ConfigError("the goal is empty", hint="say what the swarm should achieve")
    if len(goal) > MAX_GOAL_CHARS:
        raise ConfigError(
            f"the goal is {len(goal)} characters; the planner takes at most {MAX_GOAL_CHARS}",
            hint="put long material in a file a task reads, and keep the goal short",
        )
    try:
        goal.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError("the goal is not valid Unicode text") from None
    if settings.reasoning_effort not in REASONING_EFFORTS:
        raise ConfigError(
            f"planner reasoning_effort={settings.reasoning_effort!r} is not one of "
            + ", ".join(REASONING_EFFORTS)
        )
    for name in ("max_tasks", "max_repairs", "concurrency", "step_pool", "max_tokens"):
        value = getattr(settings, name)
        if value < (0 if name == "max_repairs" else 1):
            raise ConfigError(f"planner setting {name}={value} is out of range")


def _kinds() -> dict[str, str]:
    from workers.registry import registry

    return {name: worker.description for name, worker in registry().items()}


def _request(
    goal: str,
    settings: PlannerSettings,
    base: PlanningPrompt,
    prompt: str,
    attempt: int,
    images: Sequence[str],
) -> ModelRequest:
    key = hashlib.blake2b(goal.encode("utf-8"), digest_size=6).hexdigest()
    return ModelRequest(
        model=settings.model,
        prompt=prompt,
        system_prompt=base.system_prompt,
        max_tokens=settings.max_tokens,
        reasoning_effort=settings.reasoning_effort,
        images=tuple(images),
        call_key=f"planner/{key}/{attempt}/1",
    )


def _give_up(error: PlanError, settings: PlannerSettings) -> PlannerError:
    return PlannerError(error.problems, attempts=settings.max_repairs + 1)


async def plan_goal(
    goal: str,
    provider: Provider,
    settings: PlannerSettings = PlannerSettings(),
    *,
    images: Sequence[str] = (),
) -> Plan:
    """Plan ``goal``: ask, extract, validate; on a bad answer re-ask for a whole new plan with
    the exact problems, at most ``settings.max_repairs`` times, then raise PlannerError."""
    check_request(goal, settings)
    base = build_prompt(goal, settings.limits, _kinds())
    prompt = base.prompt
    error: PlanError | None = None
    for attempt in range(settings.max_repairs + 1):
        request = _request(goal, settings, base, prompt, attempt, images)
        response = await provider.complete(request)
        parser = PlanLineParser(goal, settings.limits)
        parser.feed(response.text)
        try:
            return parser.close()
        except PlanError as exc:
            error = exc
            prompt = repair_prompt(base, parser.answer_text, exc.problems)
    assert error is not None
    raise _give_up(error, settings)


async def stream_plan(
    goal: str,
    provider: Provider,
    settings: PlannerSettings = PlannerSettings(),
    *,
    images: Sequence[str] = (),
) -> AsyncIterator[PlanEvent]:
    """Plan ``goal`` while the model writes: header, then each task the moment it may be
    dispatched, problems as they are found, and :class:`PlanReady` last.

    A task once yielded stays in the plan. So when an answer is rejected after tasks were
    yielded, the re-ask keeps them and asks only for the missing or rejected lines; with no task
    yielded yet it asks for a whole new plan, as :func:`plan_goal` does (and the new answer's
    header is announced again). Raises PlannerError when the repairs run out. A consumer that
    may stop early should iterate under ``contextlib.aclosing``.
    """
    check_request(goal, settings)
    base = build_prompt(goal, settings.limits, _kinds())
    prompt = base.prompt
    parser = PlanLineParser(goal, settings.limits)
    seen = _Announced()
    for attempt in range(settings.max_repairs + 1):
        request = _request(goal, settings, base, prompt, attempt, images)
        async for chunk in text_chunks(provider, request):
            for event in parser.feed(chunk):
                yield seen.note(event)
        for event in parser.finish():
            yield seen.note(event)
        try:
            plan = parser.close()
        except PlanError as exc:
            if attempt == settings.max_repairs:
                raise _give_up(exc, settings) from None
            accepted = [spec.id for spec in parser.accepted]
            yield RepairStarted(attempt + 1, tuple(exc.problems), continuation=bool(accepted))
            if accepted:
                prompt = continuation_prompt(
                    base, parser.answer_text, exc.problems, accepted, settings.limits
                )
                parser.resume()
            else:
                prompt = repair_prompt(base, parser.answer_text, exc.problems)
                parser, seen = PlanLineParser(goal, settings.limits), _Announced()
            continue
        for event in seen.missing(plan):
            yield event
        yield PlanReady(plan)
        return


class _Announced:
    """What a planning stream has announced, so a whole-JSON answer is announced too."""

    def __init__(self) -> None:
        self.header = False
        self.tasks: set[str] = set()

    def note(self, event: PlanEvent) -> PlanEvent:
        if isinstance(event, PlanHeader):
            self.header = True
        elif isinstance(event, TaskReady):
            self.tasks.add(event.spec.id)
        return event

    def missing(self, plan: Plan) -> list[PlanEvent]:
        """Events for the header and tasks of ``plan`` not yet announced, deps first."""
        events: list[PlanEvent] = []
        if not self.header:
            events.append(PlanHeader(plan.goal, plan.defaults, plan.budget, 0))
        specs = {spec.id: spec for spec in plan.tasks}
        order = {task_id: i for i, task_id in enumerate(specs)}
        graph = build_graph(plan)
        for task_id in nx.lexicographical_topological_sort(graph, key=order.__getitem__):
            if task_id not in self.tasks:
                events.append(TaskReady(specs[task_id], 0))
        return events

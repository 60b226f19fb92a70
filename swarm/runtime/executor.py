"""The executor seam: where the work of one attempt runs, given as a value and returned as one.

The driver keeps every decision (the scheduler core, the store writer, budgets, the journal);
an executor only runs the work of an attempt. :class:`LocalExecutor` runs it in this process on
the live :class:`~workers.base.TaskContext`, exactly as before the seam existed. An executor on
other machines (``swarm/runtime/ray_executor.py``) ships an :class:`AttemptSpec` (what to run:
plain, picklable data) and gets back an :class:`AttemptOutcome` (the result or the error, plus
the records made on the way: steps, artifacts, tasks to add, tokens), which
:meth:`AttemptOutcome.apply` merges into the driver's context so the driver records it as if it
had run here. :func:`run_spec` is that remote side's whole job, free of any engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

import anyio

from swarm.errors import TaskError, WorkerCrashed
from swarm.plan import ModelParams, TaskSpec
from swarm.providers.base import ModelRequest, ModelResponse
from swarm.providers.pricing import Price
from swarm.runtime.model_channel import ModelChannel
from swarm.store.ops import ArtifactRecord, StepRecord
from workers.base import TaskContext, Worker

if TYPE_CHECKING:
    from swarm.runtime.run import RunOptions


class Executor(Protocol):
    """Runs the work of one attempt of a task and returns its result (or raises its
    :class:`~swarm.errors.TaskError`), leaving its records on ``ctx``.

    The driver cancels the call on a timeout, a budget stop, ``swarm cancel`` or Ctrl-C; an
    executor must then stop the work wherever it runs before it re-raises."""

    name: ClassVar[str]

    async def run(self, ctx: TaskContext, worker: Worker) -> str: ...


class LocalExecutor:
    """The default: the attempt runs in the driver's process, on the driver's event loop."""

    name: ClassVar[str] = "local"

    async def run(self, ctx: TaskContext, worker: Worker) -> str:
        return await worker.run(ctx)


@dataclass(frozen=True)
class AttemptSpec:
    """What one attempt needs to run anywhere: no live object (provider, budget, journal)."""

    run_id: str
    task: TaskSpec
    attempt: int
    allowance: int
    model: str
    params: ModelParams
    inputs: dict[str, str]
    price: Price
    run_dir: str
    """Absolute: the attempt's workspace is ``run_dir/work/<task>`` wherever it runs."""
    dep_titles: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    """An orchestrator's sub-agents that did not succeed, with their errors."""

    @classmethod
    def of(cls, ctx: TaskContext) -> AttemptSpec:
        return cls(
            run_id=ctx.run_id,
            task=ctx.spec,
            attempt=ctx.attempt,
            allowance=ctx.allowance,
            model=ctx.model,
            params=ctx.params,
            inputs=dict(ctx.inputs),
            price=ctx.price,
            run_dir=str(ctx.run_dir.absolute()),
            dep_titles=dict(ctx.dep_titles),
            failures=dict(ctx.failures),
        )


@dataclass
class AttemptOutcome:
    """What an attempt made: its result or its error, and its records."""

    result: str | None
    error: TaskError | None
    steps: list[StepRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    expansion: list[TaskSpec] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    wait_on: tuple[str, ...] | None = None
    """An orchestrator's turn: what it waits on (see :attr:`TaskContext.wait_on`)."""
    own_config: dict[str, Any] | None = None
    """With :attr:`wait_on`: the task's new ``config`` (its recorded turns)."""

    @classmethod
    def of(cls, ctx: TaskContext, result: str | None, error: TaskError | None) -> AttemptOutcome:
        return cls(
            result=result,
            error=error,
            steps=list(ctx.steps),
            artifacts=list(ctx.artifacts),
            expansion=list(ctx.expansion),
            tokens_in=ctx.tokens_in,
            tokens_out=ctx.tokens_out,
            cost_usd=ctx.cost_usd,
            wait_on=ctx.wait_on,
            own_config=ctx.own_config,
        )

    def apply(self, ctx: TaskContext) -> str:
        """Put the records in the driver's context; return the result or raise the error.

        They replace what the context holds: the steps of model calls served by the driver
        (``swarm/runtime/model_channel.py``) are in the outcome too."""
        ctx.steps[:] = self.steps
        ctx.artifacts[:] = self.artifacts
        ctx.expansion[:] = self.expansion
        ctx.tokens_in, ctx.tokens_out = self.tokens_in, self.tokens_out
        ctx.cost_usd = self.cost_usd
        ctx.wait_on, ctx.own_config = self.wait_on, self.own_config
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass
class DetachedContext(TaskContext):
    """The context of an attempt running away from its driver: no provider, budget or
    journal of its own; its model calls go to the driver through ``channel``, and without
    one they are refused."""

    channel: ModelChannel | None = None

    async def call_model(self, request: ModelRequest) -> ModelResponse:
        if self.channel is None:
            raise WorkerCrashed(
                f"kind {self.spec.kind!r} called a model on a remote executor that serves no "
                "model calls; run this kind on the local executor"
            )
        answer = await self.channel.call(dataclasses.replace(request, journal=None), self.steps)
        if answer.step is not None:
            self.steps.append(answer.step)
            self.tokens_in += answer.step.tokens_in
            self.tokens_out += answer.step.tokens_out
            self.cost_usd += answer.step.cost_usd
        if answer.error is not None:
            raise answer.error
        assert answer.response is not None
        return answer.response


def detached_context(spec: AttemptSpec, channel: ModelChannel | None = None) -> DetachedContext:
    return DetachedContext(
        run_id=spec.run_id,
        spec=spec.task,
        attempt=spec.attempt,
        allowance=spec.allowance,
        model=spec.model,
        params=spec.params,
        inputs=dict(spec.inputs),
        provider=cast(Any, None),  # never used: calls go through the channel
        budget=cast(Any, None),
        price=spec.price,
        run_dir=Path(spec.run_dir),
        dep_titles=dict(spec.dep_titles),
        failures=dict(spec.failures),
        channel=channel,
    )


async def run_spec(
    spec: AttemptSpec, worker: Worker, channel: ModelChannel | None = None
) -> AttemptOutcome:
    """Run an attempt from its spec alone and return what it made (never raises a task's
    error: it travels in the outcome, so anything raised by the engine is the engine's)."""
    ctx = detached_context(spec, channel)
    try:
        result = await worker.run(ctx)
    except TaskError as exc:
        return AttemptOutcome.of(ctx, None, exc)
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as exc:  # a worker bug fails its task, as on the local executor
        crashed = WorkerCrashed(f"worker crashed: {type(exc).__name__}: {exc}")
        return AttemptOutcome.of(ctx, None, crashed)
    return AttemptOutcome.of(ctx, result, None)


@asynccontextmanager
async def open_executor(options: RunOptions) -> AsyncIterator[Executor]:
    """The run's executor for its lifetime (a Ray connection is opened and closed with it)."""
    if options.executor != "ray":
        yield LocalExecutor()
        return
    from swarm.runtime.ray_executor import ray_executor  # Ray is imported only when asked for

    async with ray_executor(options.ray_address, options.ray_kinds) as executor:
        yield executor

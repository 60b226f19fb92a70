"""The worker protocol and the context a worker runs in: its task, its inputs, and metered calls.

A worker kind turns one task into one result. It never writes to the database and never holds
a network client: it calls the model through :meth:`TaskContext.call_model`, which enforces the
task's step allowance and the run's token and dollar budgets, and records every call as a step.

A call reserves its worst case (a conservative, script-aware estimate of its input, learned
from the provider's counts as the run goes, plus ``max_tokens``) at the run's
:class:`~swarm.runtime.budget_gate.BudgetGate`, waiting there while the calls in flight hold
the room it needs; it is charged the provider's count when it ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from swarm.errors import BudgetExceeded, Problem, ProviderError
from swarm.plan import ModelParams, TaskSpec
from swarm.providers.base import CallJournal, ModelRequest, ModelResponse, Provider
from swarm.providers.pricing import Price
from swarm.store.ops import ArtifactRecord, StepRecord
from swarm.untrusted import clean_text

if TYPE_CHECKING:  # validating a plan imports workers, not the runtime or MCP
    from swarm.mcp import RunTools
    from swarm.runtime.budget_gate import BudgetGate


def _no_hold() -> AbstractContextManager[None]:
    return contextlib.nullcontext()


@dataclass
class TaskContext:
    """Everything one attempt of one task may use."""

    run_id: str
    spec: TaskSpec
    attempt: int
    allowance: int
    """Steps this attempt may take, drawn from the swarm-wide pool."""
    model: str
    params: ModelParams
    inputs: dict[str, str]
    """Results of the task's dependencies, by task id."""
    provider: Provider
    budget: BudgetGate
    """The run's token and dollar budgets, where calls reserve and wait for room."""
    price: Price
    run_dir: Path
    """The run's artifact folder (``./swarm-runs/<run_id>`` by default); nothing is written
    outside it."""
    steps: list[StepRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    """Files this attempt wrote under ``run_dir``; recorded with its result."""
    expansion: list[TaskSpec] = field(default_factory=list)
    """Tasks a fan-out worker asks to add to the run (see ``workers/fanout.py``)."""
    wait_on: tuple[str, ...] | None = None
    """Set by a worker whose attempt should end waiting instead of with a result: the task
    waits, holding no slot, until every task named here has ended (whatever the outcome), then
    runs again as a new attempt. With :attr:`expansion` the added tasks are started, not joined
    (an orchestrator's sub-agents: name them here to wait for them)."""
    journal: CallJournal | None = None
    """Where remote predictions are recorded before their output is awaited (write-ahead)."""
    dep_titles: dict[str, str] = field(default_factory=dict)
    """The plan's ``title`` of each dependency that has one (aggregators head sections so)."""
    tool_hub: RunTools | None = None
    """The run's fetch settings and MCP servers, shared by every agent."""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    hold_timeout: Callable[[], AbstractContextManager[None]] = _no_hold
    """Stops the attempt's timeout clock while entered: a call waiting for budget room is
    not the task being slow (the runtime moves the deadline on by the time waited)."""

    @property
    def workspace(self) -> Path:
        """The task's own folder for scratch files and sandboxed code (created on first use)."""
        path = self.run_dir / "work" / self.spec.id
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def steps_left(self) -> int:
        return self.allowance - len(self.steps)

    def request(self, prompt: str, **overrides: object) -> ModelRequest:
        """A request carrying the task's model parameters and a stable per-step call key."""
        p = self.params
        fields: dict[str, object] = {
            "model": self.model,
            "prompt": prompt,
            "system_prompt": p.system_prompt,
            "max_tokens": p.max_tokens or 2048,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "presence_penalty": p.presence_penalty,
            "frequency_penalty": p.frequency_penalty,
            "reasoning_effort": p.reasoning_effort,
            "call_key": f"{self.run_id}/{self.spec.id}/{self.attempt}/{len(self.steps) + 1}",
            "journal": self.journal,
        }
        fields.update(overrides)
        return ModelRequest(**fields)  # type: ignore[arg-type]

    async def call_model(self, request: ModelRequest) -> ModelResponse:
        """One metered model call: a step from the allowance, a budget reservation, a record.

        The answer's text comes back cleaned (:func:`swarm.untrusted.clean_text`): whatever a
        worker keeps of it can be stored."""
        if self.steps_left < 1:
            raise BudgetExceeded(
                f"step allowance of {self.allowance} used up",
                hint="raise the task's max_steps or the run's budget.max_steps",
            )
        system = request.system_prompt or ""
        worst_in = self.budget.estimator.estimate(request.prompt, system)
        with self.hold_timeout():
            reservation = await self.budget.reserve(
                worst_in + request.max_tokens, self.price.cost(worst_in, request.max_tokens)
            )
        started = time.time()
        response: ModelResponse | None = None
        error: ProviderError | None = None
        try:
            response = await self.provider.complete(request)
            response = dataclasses.replace(response, text=clean_text(response.text))
        except ProviderError as exc:
            error = exc
            raise
        finally:
            tokens_in = response.tokens_in if response else 0
            tokens_out = response.tokens_out if response else 0
            cost = self.price.cost(tokens_in, tokens_out)
            if response is not None:
                self.budget.estimator.observe(request.prompt, system, tokens_in)
            self.budget.settle(reservation, tokens_in + tokens_out, cost)
            self.tokens_in += tokens_in
            self.tokens_out += tokens_out
            self.cost_usd += cost
            self.steps.append(
                StepRecord(
                    n=len(self.steps) + 1,
                    kind="model",
                    name=request.model,
                    started_at=started,
                    latency_s=time.time() - started,
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    cost_usd=cost,
                    ref=response.ref if response else None,
                    detail=_call_detail(response, error),
                )
            )
        return response

    def record_tool_step(
        self,
        name: str,
        started: float,
        detail: dict[str, Any] | None = None,
        latency_s: float | None = None,
    ) -> None:
        """Record a tool call (an agent's tool, a ``code`` run) as one step of the allowance.

        Workers check :attr:`steps_left` before running the tool; this refuses to record a step
        beyond the allowance, so an attempt never takes more steps than it drew from the pool.
        """
        if self.steps_left < 1:
            raise BudgetExceeded(
                f"step allowance of {self.allowance} used up",
                hint="raise the task's max_steps or the run's budget.max_steps",
            )
        self.steps.append(
            StepRecord(
                n=len(self.steps) + 1,
                kind="tool",
                name=name,
                started_at=started,
                latency_s=time.time() - started if latency_s is None else latency_s,
                detail=detail,
            )
        )

    def annotate_step(self, detail: dict[str, Any]) -> None:
        """Add what the worker learned about its latest step (the action a model answered, the
        inputs trimmed for its prompt) to that step's recorded detail."""
        if self.steps:
            last = self.steps[-1]
            merged = {**(last.detail or {}), **detail}
            self.steps[-1] = dataclasses.replace(last, detail=merged)


def _call_detail(
    response: ModelResponse | None, error: ProviderError | None
) -> dict[str, Any] | None:
    """A model step's detail: the error of a failed call, the finish reason the provider gave,
    the tries its creation took when there were several."""
    detail: dict[str, Any] = {"error": clean_text(str(error))} if error else {}
    meta = response.meta if response else {}
    if isinstance(meta.get("finish_reason"), str):
        detail["finish_reason"] = meta["finish_reason"]
    if isinstance(meta.get("create_tries"), int) and meta["create_tries"] > 1:
        detail["create_tries"] = meta["create_tries"]  # 429s and 5xx retried within the call
    return detail or None


class Worker(Protocol):
    """A task kind. ``default_steps`` is the allowance asked for when the plan sets none."""

    kind: ClassVar[str]
    description: ClassVar[str]
    default_steps: ClassVar[int]

    def check(self, spec: TaskSpec) -> list[Problem]:
        """Kind-specific problems with a task's fields (validation before anything runs)."""
        ...

    async def run(self, ctx: TaskContext) -> str:
        """Do the task; return its result as text (JSON text for structured results)."""
        ...

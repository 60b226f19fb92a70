"""Model calls of an attempt that runs away from its driver, served by the driver.

A remote attempt has no provider, budget or journal: its context sends each call, with the
steps it has recorded so far, through a :class:`ModelChannel`; the driver serves it with
:func:`serve_call` on the attempt's own driver-side context, so the call goes through the run's
one budget gate, rate governor and call journal (its prediction id journaled before its output
is awaited) exactly as a local call, and the step it makes goes back to be recorded remotely.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from swarm.errors import TaskError
from swarm.providers.base import ModelRequest, ModelResponse
from swarm.store.ops import StepRecord
from workers.base import TaskContext


@dataclass(frozen=True)
class CallAnswer:
    """What the driver answers a call: the response or the error, and the step it recorded
    (None when the call was refused before it was made: no step left)."""

    response: ModelResponse | None
    step: StepRecord | None
    error: TaskError | None


class ModelChannel(Protocol):
    """Carries one attempt's model calls to its driver."""

    async def call(self, request: ModelRequest, steps: list[StepRecord]) -> CallAnswer: ...


async def serve_call(
    ctx: TaskContext, request: ModelRequest, steps: list[StepRecord]
) -> CallAnswer:
    """Make a remote attempt's call on its driver-side context ``ctx``.

    The remote steps replace ``ctx``'s first, so the step allowance, the call key and the
    step's number continue from what the attempt has done wherever it runs."""
    ctx.steps[:] = steps
    request = dataclasses.replace(request, journal=ctx.journal)
    try:
        response = await ctx.call_model(request)
    except TaskError as exc:
        made = ctx.steps[-1] if len(ctx.steps) > len(steps) else None
        return CallAnswer(None, made, exc)
    return CallAnswer(response, ctx.steps[-1], None)

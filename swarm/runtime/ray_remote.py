"""What runs on a Ray node: one attempt from its spec to its outcome, on a stock asyncio loop.

Imported by Ray's worker processes (so every node needs swarm-harness installed, at the
driver's version). It touches no database and no provider: the outcome, with the attempt's
records and its error if any, goes back to the driver, which records it.
"""

from __future__ import annotations

import anyio

from swarm.runtime.executor import AttemptOutcome, AttemptSpec, run_spec
from workers.base import Worker
from workers.registry import registry

WAKE_S = 0.1
"""How often the node's event loop wakes while an attempt runs (see :func:`run_attempt`)."""


def run_attempt(spec: AttemptSpec) -> AttemptOutcome:
    """The body of the Ray task, on the stock asyncio loop (not uvloop).

    ``ray.cancel`` raises KeyboardInterrupt in this thread, but only once Python code runs in
    it: a loop asleep in ``epoll_wait`` (a worker awaiting its sandboxed program) would never
    see it. So the loop wakes every :data:`WAKE_S`; the interrupt then ends the loop, whose
    tasks are cancelled on the way out, and the sandbox kills the program it started.
    """
    worker = registry()[spec.task.kind]
    return anyio.run(_attempt, spec, worker)


async def _attempt(spec: AttemptSpec, worker: Worker) -> AttemptOutcome:
    async with anyio.create_task_group() as tg:
        tg.start_soon(_wake_often)
        outcome = await run_spec(spec, worker)
        tg.cancel_scope.cancel()
    return outcome


async def _wake_often() -> None:
    while True:  # noqa: ASYNC110  (waking is the point: see run_attempt)
        await anyio.sleep(WAKE_S)

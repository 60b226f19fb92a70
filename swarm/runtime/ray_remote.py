"""What runs on a Ray node: one attempt from its spec to its outcome, on a stock asyncio loop:
``code`` attempts as Ray tasks (:func:`run_attempt`), model-bound ones on async actors
(:class:`AttemptHost`) whose calls the driver serves through the :class:`Mailbox`.

Imported by Ray's worker processes (so every node needs swarm-harness installed, at the
driver's version). It touches no database and no provider: the outcome, with the attempt's
records and its error if any, goes back to the driver, which records it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio

from swarm.providers.base import ModelRequest
from swarm.runtime.executor import AttemptOutcome, AttemptSpec, run_spec
from swarm.runtime.model_channel import CallAnswer
from swarm.store.ops import StepRecord
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


CallId = int
Key = tuple[str, int]
"""An attempt: (task id, attempt number)."""


class Mailbox:
    """The driver's post office on the cluster (an async actor on the driver's node): remote
    attempts post model calls and wait for the answers; the driver takes the calls in batches
    and posts the answers. It holds no state worth keeping: if it dies, the attempts waiting
    on it are lost (and retried) like those of a dead node."""

    def __init__(self) -> None:
        self._posted: asyncio.Queue[tuple[CallId, Key, ModelRequest, list[StepRecord]]] = (
            asyncio.Queue()
        )
        self._waiting: dict[CallId, tuple[Key, asyncio.Future[CallAnswer]]] = {}
        self._next = 0

    async def call(self, key: Key, request: ModelRequest, steps: list[StepRecord]) -> CallAnswer:
        self._next += 1
        call_id = self._next
        future: asyncio.Future[CallAnswer] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = (key, future)
        self._posted.put_nowait((call_id, key, request, steps))
        try:
            return await future
        finally:
            self._waiting.pop(call_id, None)

    async def take(self) -> list[tuple[CallId, Key, ModelRequest, list[StepRecord]]]:
        """The calls posted since the last take (waits for at least one)."""
        batch = [await self._posted.get()]
        while not self._posted.empty():
            batch.append(self._posted.get_nowait())
        return batch

    def answer(self, call_id: CallId, answer: CallAnswer) -> None:
        waiting = self._waiting.pop(call_id, None)
        if waiting is not None and not waiting[1].done():
            waiting[1].set_result(answer)

    def drop(self, key: Key, answer: CallAnswer) -> None:
        """Answer every call still waiting of an attempt the driver has given up on."""
        for call_id, (owner, _) in list(self._waiting.items()):
            if owner == key:
                self.answer(call_id, answer)


class RayChannel:
    """A remote attempt's :class:`~swarm.runtime.model_channel.ModelChannel`: its calls go
    through the mailbox (an actor handle) to the driver."""

    def __init__(self, mailbox: Any, key: Key) -> None:
        self.mailbox = mailbox
        self.key = key

    async def call(self, request: ModelRequest, steps: list[StepRecord]) -> CallAnswer:
        answer: CallAnswer = await self.mailbox.call.remote(self.key, request, list(steps))
        return answer


class AttemptHost:
    """An async actor that runs model-bound attempts (``llm``, ``agent``) side by side on its
    event loop: they mostly wait for their calls, which the driver makes."""

    def node(self) -> str:
        """The id of the node this host runs on."""
        import ray

        node_id: str = ray.get_runtime_context().get_node_id()
        return node_id

    async def run(self, spec: AttemptSpec, mailbox: Any) -> AttemptOutcome:
        worker = registry()[spec.task.kind]
        return await run_spec(spec, worker, RayChannel(mailbox, (spec.task.id, spec.attempt)))

"""The calls journal over the store: remote predictions are committed before their output is
awaited, and a resumed run re-attaches to the ones whose outcome was never recorded."""

from __future__ import annotations

import time

from swarm.providers.base import ModelRequest
from swarm.store.ops import CallCreated, CallFinished
from swarm.store.writer import Writer


def _parts(request: ModelRequest) -> tuple[str, str, int, int]:
    run_id, task_id, attempt, step = request.call_key.rsplit("/", 3)
    return run_id, task_id, int(attempt), int(step)


class StoreJournal:
    """:class:`swarm.providers.base.CallJournal` written through the run's single writer."""

    def __init__(
        self, writer: Writer, provider: str, open_calls: dict[tuple[str, int], str]
    ) -> None:
        self.writer = writer
        self.provider = provider
        self.open_calls = dict(open_calls)
        """(task, step) → prediction id left running by an interrupted attempt."""

    async def created(self, request: ModelRequest, ref: str) -> None:
        run_id, task_id, attempt, step = _parts(request)
        self.writer.submit(
            CallCreated(run_id, task_id, attempt, step, self.provider, ref, time.time())
        )
        await self.writer.flush()  # durable before the provider reads any output

    def previous(self, request: ModelRequest) -> str | None:
        _, task_id, _, step = _parts(request)
        return self.open_calls.pop((task_id, step), None)

    async def finished(self, request: ModelRequest, ref: str, status: str) -> None:
        run_id = _parts(request)[0]
        self.writer.submit(CallFinished(run_id, ref, status, time.time()))

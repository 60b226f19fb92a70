"""The tool-call journal over the store: each tool call's outcome is committed (as a
``tool.returned`` event) before the agent's next model call, and a resumed run gives an
interrupted attempt's returned calls back to the task's next attempt, so it does not make them
again.

A call that was in flight when the process died has no outcome recorded: the resumed agent may
make it again (MCP tools are not assumed idempotent; the docs say so).
"""

from __future__ import annotations

import time
from typing import Any

from swarm.store.ops import Event
from swarm.store.queries import Queries
from swarm.store.store import Store
from swarm.store.writer import Writer

RETURNED = "tool.returned"
INTERRUPTED = "task.interrupted"


class StoreToolJournal:
    """Written through the run's single writer; read back once per interrupted task."""

    def __init__(
        self, writer: Writer, run_id: str, interrupted: dict[str, list[dict[str, Any]]]
    ) -> None:
        self.writer = writer
        self.run_id = run_id
        self.interrupted = dict(interrupted)

    async def returned(self, task_id: str, attempt: int, call: dict[str, Any]) -> None:
        """Durably record one call's outcome (returns once it is committed)."""
        self.writer.submit(Event(self.run_id, RETURNED, time.time(), task_id, attempt, call))
        await self.writer.flush()

    def previous(self, task_id: str) -> list[dict[str, Any]]:
        """The calls an interrupted attempt of ``task_id`` saw return, once (the first attempt
        after the resume takes them)."""
        return self.interrupted.pop(task_id, [])


async def interrupted_calls(store: Store, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """Task → the returned tool calls of its latest attempt, for the tasks whose latest attempt
    was interrupted (read after :meth:`Store.mark_interrupted` wrote those events)."""
    by_attempt: dict[tuple[str, int], list[dict[str, Any]]] = {}
    lost: dict[str, int] = {}
    for event in await Queries(store).events(run_id):
        if event.task_id is None or event.attempt is None:
            continue
        if event.type == RETURNED and isinstance(event.data, dict):
            by_attempt.setdefault((event.task_id, event.attempt), []).append(event.data)
        elif event.type == INTERRUPTED:
            lost[event.task_id] = event.attempt
    return {t: by_attempt[(t, a)] for t, a in lost.items() if (t, a) in by_attempt}

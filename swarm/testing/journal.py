"""An in-memory :class:`~swarm.providers.base.CallJournal`, for tests of write-ahead
re-attachment without a database.

Calls are keyed by task and step (``run/task/attempt/step`` without the attempt), so a later
attempt of the same task finds the prediction an interrupted attempt created.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarm.providers.base import CallIntent, ModelRequest, RateWait, RetryNotice


def call_slot(request: ModelRequest) -> str:
    """``run/task/step``: what stays the same when an interrupted attempt is run again."""
    parts = request.call_key.split("/")
    if len(parts) == 4:
        run, task, _attempt, step = parts
        return f"{run}/{task}/{step}"
    return request.call_key


@dataclass
class MemoryJournal:
    refs: dict[str, str] = field(default_factory=dict)
    """Slot → the prediction created for it."""
    ended: dict[str, str] = field(default_factory=dict)
    """Prediction → how it ended."""
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(event, slot, prediction) in the order they happened."""
    retries: list[RetryNotice] = field(default_factory=list)
    """Every retry notice, in order."""
    waits: list[RateWait] = field(default_factory=list)
    """Every call's waits on rate limits, in order."""
    intents: dict[str, CallIntent] = field(default_factory=dict)
    """Slot → the intent of a creation whose prediction was not journaled yet."""

    async def intended(self, request: ModelRequest, intent: CallIntent) -> None:
        slot = call_slot(request)
        self.intents[slot] = intent
        self.events.append(("intended", slot, intent.fingerprint))

    def unresolved(self, request: ModelRequest) -> CallIntent | None:
        return self.intents.pop(call_slot(request), None)

    async def created(self, request: ModelRequest, ref: str) -> None:
        slot = call_slot(request)
        self.refs[slot] = ref
        self.intents.pop(slot, None)
        self.events.append(("created", slot, ref))

    def previous(self, request: ModelRequest) -> str | None:
        return self.refs.get(call_slot(request))

    async def finished(self, request: ModelRequest, ref: str, status: str) -> None:
        self.ended[ref] = status
        self.events.append((status, call_slot(request), ref))

    def retrying(self, request: ModelRequest, notice: RetryNotice) -> None:
        self.retries.append(notice)

    def waited(self, request: ModelRequest, wait: RateWait) -> None:
        self.waits.append(wait)

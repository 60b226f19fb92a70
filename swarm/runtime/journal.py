"""The calls journal over the store: remote predictions are committed before their output is
awaited, and a resumed run re-attaches to the ones whose outcome was never recorded.

The intent of each creation is committed before the creation is sent (a ``call.intended``
event carrying the input's fingerprint), so a resume also knows the creations a killed process
sent, or was about to send, whose answer it never journaled: the provider looks them up."""

from __future__ import annotations

import contextlib
import time

from swarm.errors import StoreError
from swarm.providers.base import CallIntent, ModelRequest, RateWait, RetryNotice
from swarm.store.ops import CallCreated, CallFinished, Event
from swarm.store.writer import Writer

INTENT_EVENT = "call.intended"
"""The event type of an intent: data ``{"step", "provider", "fingerprint"}``; the event's own
``at`` is the intent's time."""


def _parts(request: ModelRequest) -> tuple[str, str, int, int]:
    run_id, task_id, attempt, step = request.call_key.rsplit("/", 3)
    return run_id, task_id, int(attempt), int(step)


RETRY_EVENT = "provider.retrying"

RETRY_EVENT_EVERY_S = 15.0
"""A call that keeps failing logs its first retry, then one event per this many seconds."""


class StoreJournal:
    """:class:`swarm.providers.base.CallJournal` written through the run's single writer."""

    def __init__(
        self,
        writer: Writer,
        provider: str,
        open_calls: dict[tuple[str, int], str],
        open_intents: dict[tuple[str, int], CallIntent] | None = None,
    ) -> None:
        self.writer = writer
        self.provider = provider
        self.open_calls = dict(open_calls)
        """(task, step) → prediction id left running by an interrupted attempt."""
        self.last_retry: RetryNotice | None = None
        """The latest retry notice of any call, and (``last_retry_at``) when it came: the live
        display shows it until its next try is due."""
        self.last_retry_at = 0.0
        self._logged: dict[str, float] = {}
        """call key → when its last ``provider.retrying`` event was written."""
        self.open_intents = dict(open_intents or {})
        """(task, step) → the intent of an interrupted attempt's creation whose prediction id
        was never journaled."""

    async def intended(self, request: ModelRequest, intent: CallIntent) -> None:
        run_id, task_id, attempt, step = _parts(request)
        data = {"step": step, "provider": self.provider, "fingerprint": intent.fingerprint}
        self.writer.submit(Event(run_id, INTENT_EVENT, intent.at, task_id, attempt, data))
        await self.writer.flush()  # durable before the creation is sent

    def unresolved(self, request: ModelRequest) -> CallIntent | None:
        _, task_id, _, step = _parts(request)
        return self.open_intents.pop((task_id, step), None)

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

    def retrying(self, request: ModelRequest, notice: RetryNotice) -> None:
        now = time.time()
        self.last_retry, self.last_retry_at = notice, now
        key = request.call_key
        if notice.tries > 1 and now - self._logged.get(key, 0.0) < RETRY_EVENT_EVERY_S:
            return
        self._logged[key] = now
        run_id, task_id, attempt, _ = _parts(request)
        data = {
            "where": notice.where,
            "error": notice.error,
            "tries": notice.tries,
            "failing_s": round(notice.failing_s, 3),
            "retry_in_s": round(notice.retry_in_s, 3),
            "gives_up_in_s": round(notice.gives_up_in_s, 3),
        }
        self.writer.submit(Event(run_id, RETRY_EVENT, now, task_id, attempt, data))

    def waited(self, request: ModelRequest, wait: RateWait) -> None:
        """One ``provider.rate_limited`` or ``governor.waiting`` event per call that waited (see
        :class:`RateWait`): data ``step``, ``tries``, ``rate_limited``, ``waited_s``, ``status``,
        ``retry_after_s``."""
        run_id, task_id, attempt, step = _parts(request)
        data = {
            "step": step,
            "tries": wait.tries,
            "rate_limited": wait.rate_limited,
            "waited_s": round(wait.waited_s, 3),
            "status": wait.status,
            "retry_after_s": None if wait.retry_after_s is None else round(wait.retry_after_s, 3),
        }
        event = Event(run_id, wait.event_type, time.time(), task_id, attempt, data)
        with contextlib.suppress(StoreError):  # told on the way out of a cancelled call, too
            self.writer.submit(event)

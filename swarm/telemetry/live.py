"""Live export: a run's spans sent as its changes commit, only when the user configured it.

The runtime hands every committed group of store ops to :meth:`LiveTrace.on_commit` (the
writer's ``on_commit`` callback, after the driver's own). The ops are folded into the same
:class:`~swarm.telemetry.facts.RunLog` the database rebuild fills, and each finished attempt's
spans go to a :class:`SpanSink` at once; the run's and planning spans go when the run ends. The
sink (the OpenTelemetry SDK's ``BatchSpanProcessor`` in :mod:`swarm.telemetry.sdk`) queues them
for a thread of its own, with a bounded queue: a slow or dead collector drops spans (counted and
reported) but never slows or fails the run. A failure inside this module disables the export
for the rest of the run, with a warning, and the run goes on.

Configured by the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none`` turn it off) or ``SWARM_OTLP_ENDPOINT``; without them nothing is
exported and the SDK is not imported.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import anyio
import anyio.to_thread

from swarm.errors import ConfigError
from swarm.store.ops import (
    ApprovalRequested,
    AttemptFinished,
    AttemptStarted,
    Event,
    Op,
    RunCreated,
    RunFinished,
    RunStarted,
    TasksAdded,
    TasksRecorded,
    TasksReplaced,
    TasksSkipped,
    TaskWaiting,
    TaskWoken,
    WaitFailed,
)
from swarm.store.queries import Queries
from swarm.store.store import Store
from swarm.store.writer import OnCommit
from swarm.telemetry.facts import (
    AttemptFact,
    JsonMap,
    Note,
    RunLog,
    StepFact,
    approval_note,
    is_note,
)
from swarm.telemetry.load import load_run_log
from swarm.telemetry.trace_model import Span, attempt_spans, run_spans

logger = logging.getLogger("swarm.telemetry")

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENDPOINT_ENVS = (
    "SWARM_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
FLUSH_S = 5.0
"""At a run's end, wait at most this long for the last spans to leave."""


@dataclass(frozen=True, slots=True)
class ExportStats:
    """What happened to the spans of one live export (reported with the run's summary)."""

    spans: int
    """Spans handed to the exporter's queue."""
    exported: int
    """Spans the collector accepted."""
    failed: int
    """Spans in batches the collector refused or could not be reached for."""
    dropped: int
    """Spans lost otherwise: the queue was full, or the run ended before they left."""
    error: str | None = None
    """Why the export was switched off during the run, if it was."""

    def as_dict(self) -> dict[str, object]:
        return {
            "spans": self.spans,
            "exported": self.exported,
            "failed": self.failed,
            "dropped": self.dropped,
            "error": self.error,
        }


class SpanSink(Protocol):
    """Where live spans go: must return at once (queue, never send inline)."""

    def emit(self, spans: list[Span]) -> None: ...

    def close(self, timeout_s: float) -> tuple[int, int]:
        """Flush and stop; the number of spans exported and failed."""
        ...


def capture_content(env: Mapping[str, str] | None = None) -> bool:
    """The conventions' opt-in for prompts and completions (off unless set to ``true``)."""
    return (env if env is not None else os.environ).get(CAPTURE_CONTENT_ENV, "").lower() == "true"


def endpoint_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The configured OTLP/HTTP traces endpoint, or None: export is off."""
    env = env if env is not None else os.environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return None
    for name in ENDPOINT_ENVS:
        value = env.get(name, "").strip()
        if value:
            if name == "OTEL_EXPORTER_OTLP_ENDPOINT":  # the base URL; the traces path follows
                return value.rstrip("/") + "/v1/traces"
            return value
    return None


class LiveTrace:
    """One run's live export: fold committed ops into the run's log and emit finished spans."""

    def __init__(self, log: RunLog, sink: SpanSink, *, content: bool = False) -> None:
        self.log = log
        self.sink = sink
        self.content = content
        self.emitted = 0
        self.error: str | None = None

    def on_commit(self, batch: list[Op]) -> None:
        """The writer's callback (after the driver's): never raises into the run."""
        if self.error is not None:
            return
        try:
            spans: list[Span] = []
            for op in batch:
                spans.extend(self._apply(op))
            if spans:
                self.sink.emit(spans)
                self.emitted += len(spans)
        except Exception as exc:  # the run must go on whatever the export does
            self.error = f"{type(exc).__name__}: {exc}"
            logger.warning("swarm: live trace export switched off: %s", self.error)

    def start(self) -> None:
        """Emit what a resumed run's earlier sessions left unexported: attempts a dead process
        left ``interrupted`` (it could not export them)."""
        spans: list[Span] = []
        for fact in self.log.attempts.values():
            if fact.status == "interrupted":
                spans.extend(attempt_spans(self.log, fact, content=self.content))
        if spans:
            self.sink.emit(spans)
            self.emitted += len(spans)

    async def aclose(self, timeout_s: float | None = None) -> ExportStats:
        """Flush (at most ``timeout_s``, default :data:`FLUSH_S`) and report what became of
        the spans."""
        timeout_s = FLUSH_S if timeout_s is None else timeout_s
        exported, failed = 0, 0
        with anyio.move_on_after(timeout_s + 1):
            exported, failed = await anyio.to_thread.run_sync(
                self.sink.close, timeout_s, abandon_on_cancel=True
            )
        dropped = max(0, self.emitted - exported - failed)
        stats = ExportStats(self.emitted, exported, failed, dropped, self.error)
        if dropped or failed:
            logger.warning(
                "swarm: live trace export lost %d of %d spans (%d refused or unreachable)",
                dropped + failed,
                self.emitted,
                failed,
            )
        return stats

    def _apply(self, op: Op) -> list[Span]:
        log = self.log
        if isinstance(op, TaskWaiting):
            op = op.as_finished()  # its attempt ended suspended: traced like any attempt
        if isinstance(op, AttemptFinished):
            fact = _attempt_fact(op)
            log.attempts[(op.task_id, op.attempt)] = fact
            return attempt_spans(log, fact, content=self.content)
        if isinstance(op, AttemptStarted):
            if op.task_id in log.tasks:
                log.tasks[op.task_id].attempt = op.attempt
        elif isinstance(op, RunCreated):
            self._created(op)
        elif isinstance(op, RunStarted):
            log.status, log.finished_at = "running", None
            log.started_at = log.started_at or op.at
            kind = "run.resumed" if op.resumed else "run.started"
            log.notes.append(Note(op.at, kind, data={"pid": op.pid}))
        elif isinstance(op, TasksRecorded):
            for t in op.tasks:
                log.add_task(t.task_id, t.kind, t.deps, t.title)
        elif isinstance(op, TasksAdded):
            self._added(op)
        elif isinstance(op, TasksSkipped | TasksReplaced | Event):
            self._note(op)
        elif isinstance(op, ApprovalRequested | TaskWoken | WaitFailed):
            self._gate(op)
        elif isinstance(op, RunFinished):
            log.status, log.finished_at = op.status, op.at
            data = {"status": op.status, "cancelled_tasks": len(op.cancelled_tasks)}
            log.notes.append(Note(op.at, "run.finished", data=data))
            return run_spans(log)
        return []

    def _created(self, op: RunCreated) -> None:
        run, log = op.run, self.log
        log.created_at = run.created_at
        log.provider = str(run.config.get("provider", "sim"))
        log.simulated = log.provider == "sim"
        for t in run.tasks:
            log.add_task(t.task_id, t.kind, t.deps, t.title)
        log.planned_tasks, log.planned_at = len(run.tasks), run.created_at
        log.apply_plan(run.plan_json)

    def _added(self, op: TasksAdded) -> None:
        log = self.log
        for t in op.tasks:
            log.add_task(t.task_id, t.kind, t.deps, t.title)
        if op.reason == "plan":
            log.planned_tasks += len(op.tasks)
            log.planned_at = max(log.planned_at or op.at, op.at)
        log.apply_plan(op.plan_json)

    def _gate(self, op: ApprovalRequested | TaskWoken | WaitFailed) -> None:
        """The event data the writer records for these ops (``store/batch.py``), read the way
        the rebuilt trace reads it."""
        data: JsonMap
        if isinstance(op, ApprovalRequested):
            kind, data = "approval.requested", {"timeout_s": op.timeout_s}
        elif isinstance(op, TaskWoken):
            kind, data = "task.woken", {"reason": op.reason, **(op.data or {})}
        else:
            kind, data = "task.failed", {"outcome": "rejected"}
        gate = approval_note(op.at, kind, op.task_id, op.attempt, data)
        if gate is not None:
            self.log.notes.append(gate)

    def _note(self, op: TasksSkipped | TasksReplaced | Event) -> None:
        notes = self.log.notes
        if isinstance(op, TasksSkipped):
            notes.extend(
                Note(op.at, "task.skipped", t, None, {"because_of": op.because_of})
                for t in op.task_ids
            )
        elif isinstance(op, TasksReplaced):
            notes.extend(
                Note(op.at, "task.replaced", t, None, {"revision": op.revision})
                for t in op.task_ids
            )
        elif is_note(op.type):
            data = json.loads(json.dumps(op.data, default=str)) if op.data is not None else None
            notes.append(Note(op.at, op.type, op.task_id, op.attempt, data))


def _attempt_fact(op: AttemptFinished) -> AttemptFact:
    steps = tuple(
        StepFact(
            s.n, s.kind, s.name, s.started_at, s.latency_s, s.tokens_in, s.tokens_out,
            s.cost_usd, s.ref,
            json.loads(json.dumps(s.detail, default=str)) if s.detail is not None else None,
        )
        for s in op.steps
    )  # fmt: skip
    return AttemptFact(
        task_id=op.task_id,
        attempt=op.attempt,
        status=op.outcome,
        started_at=op.started_at,
        finished_at=op.finished_at,
        error=op.error,
        error_kind=op.error_kind,
        retryable=op.retryable,
        retry_at=op.retry_at,
        tokens_in=op.tokens_in,
        tokens_out=op.tokens_out,
        cost_usd=op.cost_usd,
        steps=steps,
        result=op.result if op.outcome == "succeeded" else None,
    )


async def attach(
    store: Store, run_id: str, *, sink: SpanSink | None = None, env: Mapping[str, str] | None = None
) -> LiveTrace | None:
    """The live export of ``run_id`` if one is configured (or ``sink`` is given), else None.

    A resumed run starts from what the database holds (so its spans carry the same links and
    events as a rebuild); a new one starts empty and learns everything from its first commit.
    """
    if sink is None:
        endpoint = endpoint_from_env(env)
        if endpoint is None:
            return None
        try:
            from swarm.telemetry.sdk import otlp_sink  # the `otel` extra, only now

            sink = otlp_sink(endpoint)
        except ConfigError as exc:  # configured for other programs, perhaps: run without
            logger.warning("swarm: not exporting traces to %s: %s", endpoint, exc)
            return None
    log = RunLog(run_id=run_id, created_at=0.0)
    try:
        if await store.run_exists(run_id):
            log = await load_run_log(Queries(store), run_id)
    except Exception as exc:  # the export must not keep the run from starting
        logger.warning("swarm: not exporting traces: the run could not be read: %s", exc)
        sink.close(0.0)
        return None
    trace = LiveTrace(log, sink, content=capture_content(env))
    trace.start()
    return trace


def chained(first: OnCommit, trace: LiveTrace | None) -> OnCommit:
    """The writer's callback: ``first`` (the driver's), then the live trace's if there is one."""
    if trace is None:
        return first

    def both(batch: list[Op]) -> None:
        first(batch)
        trace.on_commit(batch)

    return both


async def finish(trace: LiveTrace | None) -> ExportStats | None:
    """Flush a live export at the run's end (shielded: a cancelled run still sends its end)."""
    if trace is None:
        return None
    with anyio.CancelScope(shield=True):
        stats = await trace.aclose()
    return stats

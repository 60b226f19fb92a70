"""A run's facts read back from the database (for ``swarm export --format otlp`` and for a
resumed run's live trace), through the read-side queries every inspection command uses."""

from __future__ import annotations

from swarm.store.queries import EventRow, Queries
from swarm.telemetry.facts import AttemptFact, Note, RunLog, StepFact, approval_note, is_note


async def load_run_log(q: Queries, run_id: str) -> RunLog:
    """Everything the trace of ``run_id`` shows; :class:`~swarm.errors.RunNotFound` if absent."""
    detail = await q.detail(run_id)
    record = await q.store.load_run(run_id)
    provider = str(record.config.get("provider", "sim"))
    log = RunLog(
        run_id=run_id,
        created_at=record.created_at,
        provider=provider,
        simulated=provider == "sim",
        status=record.status,
        started_at=record.started_at,
        finished_at=record.finished_at if record.status in _ENDED else None,
    )
    for task in detail.tasks:
        log.add_task(task.task_id, task.kind, task.deps, task.title)
        log.tasks[task.task_id].attempt = task.attempts
    log.apply_plan(record.plan_json)
    results = {t.task_id: t.result for t in detail.tasks if t.status == "succeeded"}
    events = await q.events(run_id)
    _planning(log, events)
    retry_at = {
        (e.task_id, e.attempt): e.data.get("retry_at")
        for e in events
        if e.type == "task.retry" and isinstance(e.data, dict)
    }
    steps: dict[tuple[str, int], list[StepFact]] = {}
    for s in await q.steps(run_id):
        detail_map = s.detail if isinstance(s.detail, dict) else None
        steps.setdefault((s.task_id, s.attempt), []).append(
            StepFact(
                s.n, s.kind, s.name, s.started_at, s.latency_s, s.tokens_in, s.tokens_out,
                s.cost_usd, s.ref, detail_map,
            )
        )  # fmt: skip
    for a in await q.attempts(run_id):
        key = (a.task_id, a.attempt)
        retry = retry_at.get(key)
        log.attempts[key] = AttemptFact(
            task_id=a.task_id,
            attempt=a.attempt,
            status=a.status,
            started_at=a.started_at,
            finished_at=a.finished_at,
            error=a.error,
            error_kind=a.error_kind,
            retryable=a.retryable,
            retry_at=float(retry) if isinstance(retry, int | float) else None,
            tokens_in=a.tokens_in,
            tokens_out=a.tokens_out,
            cost_usd=a.cost_usd,
            steps=tuple(sorted(steps.get(key, []), key=lambda s: s.n)),
            result=results.get(a.task_id) if a.status == "succeeded" else None,
        )
    return log


def _planning(log: RunLog, events: list[EventRow]) -> None:
    """When planning ended, how many tasks it made, and the events the trace shows."""
    added = [e for e in events if e.type == "task.added"]
    planned = [e for e in added if isinstance(e.data, dict) and e.data.get("reason") == "plan"]
    log.planned_tasks = len(log.tasks) - len(added) + len(planned)
    log.planned_at = max([log.created_at, *(e.at for e in planned)])
    for e in events:
        data = e.data if isinstance(e.data, dict) else None
        if is_note(e.type):
            log.notes.append(Note(e.at, e.type, e.task_id, e.attempt, data))
        elif (gate := approval_note(e.at, e.type, e.task_id, e.attempt, data)) is not None:
            log.notes.append(gate)


_ENDED = frozenset({"succeeded", "failed", "cancelled", "paused", "waiting"})

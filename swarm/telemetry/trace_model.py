"""A run's trace as OpenTelemetry GenAI spans, built from its facts alone (no I/O, no SDK).

One run is one trace: an ``invoke_workflow`` span for the run, a ``plan`` span for the planning,
an ``invoke_agent`` span per task attempt (linked to its dependencies' spans), and under each
attempt a ``chat`` span per model call and an ``execute_tool`` span per tool call. Names and
attributes follow the GenAI semantic conventions (open-telemetry/semantic-conventions-genai);
what they do not name is under ``swarm.*`` (cost, retries, the attempt's outcome).

Ids are derived from the run id, the task id and the attempt number, so a span exported live
and the same span rebuilt from the database later are one span to a backend. Prompts, results
and tool arguments are left out unless content capture is asked for; secrets are never part of
what a run records.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from swarm.telemetry.facts import (
    RATE_NOTES,
    AttemptFact,
    Note,
    RunLog,
    StepFact,
    TaskFact,
)

AttrValue = str | bool | int | float | tuple[str, ...]
Attributes = dict[str, AttrValue]
SpanKind = Literal["INTERNAL", "CLIENT"]
StatusCode = Literal["UNSET", "OK", "ERROR"]

SCOPE = "swarm"
WORKFLOW = "swarm"
"""``gen_ai.workflow.name`` of every run (low cardinality, as the conventions ask)."""
PLANNER = "planner"
ERROR_TEXT_CHARS = 300
"""Error messages on span statuses are cut to this many characters."""
CONTENT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    at: float
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class SpanLink:
    trace_id: int
    span_id: int
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class Span:
    """One span, SDK-neutral: times are epoch seconds, ids integers."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    kind: SpanKind
    start: float
    end: float
    attributes: Attributes
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()
    status: StatusCode = "UNSET"
    status_message: str | None = None


@functools.lru_cache(maxsize=256)
def trace_id(run_id: str) -> int:
    """The run's 128-bit trace id (never zero, which OpenTelemetry reserves for "invalid")."""
    return _digest("trace", run_id, bits=128)


@functools.lru_cache(maxsize=4096)
def span_id(run_id: str, *path: object) -> int:
    """A 64-bit span id for a place in the run: ``()`` the run, ``("plan",)``, ``(task, n)``,
    ``(task, n, step)``."""
    return _digest("span", run_id, *path, bits=64)


def _digest(*parts: object, bits: int) -> int:
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    value = int.from_bytes(hashlib.sha256(text).digest()[: bits // 8], "big")
    return value or 1


def provider_name(provider: str, base_url: str | None = None) -> str:
    """``gen_ai.provider.name``: the conventions' well-known value where there is one."""
    if provider == "openai":
        host = (base_url or "").lower()
        return "moonshot_ai" if "moonshot" in host else "openai"
    return {"sim": "swarm.sim"}.get(provider, provider)


def run_spans(log: RunLog, *, now: float | None = None) -> list[Span]:
    """The run's ``invoke_workflow`` span and its ``plan`` span."""
    tid, root = trace_id(log.run_id), span_id(log.run_id)
    end = log.finished_at or now or _last_time(log)
    status: StatusCode = {"succeeded": "OK", "failed": "ERROR"}.get(log.status, "UNSET")  # type: ignore[assignment]
    attrs: Attributes = {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": WORKFLOW,
        "gen_ai.provider.name": provider_name(log.provider),
        "gen_ai.conversation.id": log.run_id,
        "swarm.run.id": log.run_id,
        "swarm.run.status": log.status,
        "swarm.run.simulated": log.simulated,
        "swarm.run.tasks": len(log.tasks),
    }
    run = Span(
        name=f"invoke_workflow {WORKFLOW}",
        trace_id=tid,
        span_id=root,
        parent_id=None,
        kind="INTERNAL",
        start=log.created_at,
        end=max(end, log.created_at),
        attributes=attrs,
        events=tuple(_note_event(n) for n in log.notes if n.attempt is None),
        status=status,
        status_message="the run failed" if status == "ERROR" else None,
    )
    planned = log.planned_at or log.started_at or log.created_at
    plan = Span(
        name=f"plan {PLANNER}",
        trace_id=tid,
        span_id=span_id(log.run_id, "plan"),
        parent_id=root,
        kind="INTERNAL",
        start=log.created_at,
        end=max(planned, log.created_at),
        attributes={
            "gen_ai.operation.name": "plan",
            "gen_ai.agent.name": PLANNER,
            "swarm.plan.tasks": log.planned_tasks,
        },
    )
    return [run, plan]


def attempt_spans(log: RunLog, attempt: AttemptFact, *, content: bool = False) -> list[Span]:
    """An attempt's ``invoke_agent`` span and a span per model or tool call under it."""
    task = log.tasks.get(attempt.task_id) or TaskFact(attempt.task_id, "?", None, ())
    tid = trace_id(log.run_id)
    own = span_id(log.run_id, task.task_id, attempt.attempt)
    attrs: Attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": task.task_id,
        "gen_ai.agent.id": f"{log.run_id}/{task.task_id}",
        "gen_ai.provider.name": provider_name(log.provider),
        "gen_ai.usage.input_tokens": attempt.tokens_in,
        "gen_ai.usage.output_tokens": attempt.tokens_out,
        "swarm.task.id": task.task_id,
        "swarm.task.kind": task.kind,
        "swarm.attempt": attempt.attempt,
        "swarm.attempt.outcome": attempt.status,
        "swarm.attempt.steps": len(attempt.steps),
        "swarm.cost_usd": round(attempt.cost_usd, 9),
        "swarm.cost.simulated": log.simulated,
    }
    if task.title:
        attrs["gen_ai.agent.description"] = task.title
    if task.model:
        attrs["gen_ai.request.model"] = task.model
    if attempt.retryable is not None:
        attrs["swarm.attempt.retryable"] = attempt.retryable
    status, message = _attempt_status(attempt, attrs)
    if content:
        _content(attrs, task, attempt)
    notes = [n for n in log.notes if _of(n, attempt)]
    by_step = _rate_notes(notes, attempt)
    waited = sum(_waited_s(n) for n in notes if n.type in RATE_NOTES)
    if waited:
        attrs["swarm.attempt.rate_wait_s"] = round(waited, 6)
    on_steps = {id(n) for step_notes in by_step.values() for n in step_notes}
    events = [_note_event(n) for n in notes if id(n) not in on_steps]
    if attempt.retry_at is not None:
        events.append(
            SpanEvent(
                "swarm.retry.scheduled",
                attempt.finished_at,
                {"swarm.retry.delay_s": round(max(0.0, attempt.retry_at - attempt.finished_at), 6)},
            )
        )
    span = Span(
        name=f"invoke_agent {task.task_id}",
        trace_id=tid,
        span_id=own,
        parent_id=span_id(log.run_id),
        kind="INTERNAL",
        start=attempt.started_at,
        end=max(attempt.finished_at, attempt.started_at),
        attributes=attrs,
        events=tuple(sorted(events, key=lambda e: e.at)),
        links=tuple(_dep_links(log, task)),
        status=status,
        status_message=message,
    )
    steps = [
        _step_span(log, task, attempt, step, own, content, by_step.get(step.n, []))
        for step in attempt.steps
    ]
    return [span, *steps]


def build_trace(log: RunLog, *, content: bool = False, now: float | None = None) -> list[Span]:
    """The whole trace of a run: the run and plan spans, then every finished attempt's."""
    spans = run_spans(log, now=now)
    for key in sorted(log.attempts, key=lambda k: (log.attempts[k].started_at, k)):
        spans.extend(attempt_spans(log, log.attempts[key], content=content))
    return spans


def _attempt_status(attempt: AttemptFact, attrs: Attributes) -> tuple[StatusCode, str | None]:
    if attempt.status == "succeeded":
        return "OK", None
    if attempt.status == "suspended":  # ended waiting (an approval, sub-agents): no error
        return "UNSET", None
    kind = "timeout" if attempt.status == "timeout" else attempt.error_kind or attempt.status
    attrs["error.type"] = kind
    if attempt.status in ("cancelled", "interrupted", "paused"):
        return "UNSET", None
    return "ERROR", _cut(attempt.error or attempt.status, ERROR_TEXT_CHARS)


def _dep_links(log: RunLog, task: TaskFact) -> Iterator[SpanLink]:
    tid = trace_id(log.run_id)
    for dep in task.deps:
        upstream = log.tasks.get(dep)
        if upstream is None or upstream.attempt < 1:
            continue
        yield SpanLink(
            tid,
            span_id(log.run_id, dep, upstream.attempt),
            {"swarm.link": "dependency", "swarm.task.id": dep},
        )


def _rate_notes(notes: list[Note], attempt: AttemptFact) -> dict[int, list[Note]]:
    """The attempt's rate-limit waits by the model call they held back (``data.step``); a wait
    whose call left no step stays on the attempt's span."""
    calls = {s.n for s in attempt.steps if s.kind == "model"}
    found: dict[int, list[Note]] = {}
    for note in notes:
        step = (note.data or {}).get("step")
        if note.type in RATE_NOTES and isinstance(step, int) and step in calls:
            found.setdefault(step, []).append(note)
    return found


def _waited_s(note: Note) -> float:
    value = (note.data or {}).get("waited_s")
    return float(value) if isinstance(value, int | float) else 0.0


def _step_span(
    log: RunLog,
    task: TaskFact,
    attempt: AttemptFact,
    step: StepFact,
    parent: int,
    content: bool,
    waits: list[Note],
) -> Span:
    detail = step.detail or {}
    call_id = f"{task.task_id}/{attempt.attempt}/{step.n}"
    error = detail.get("error")
    if step.kind == "model":
        name = f"chat {step.name}"
        kind: SpanKind = "CLIENT"
        attrs: Attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider_name(log.provider),
            "gen_ai.request.model": step.name,
            "gen_ai.usage.input_tokens": step.tokens_in,
            "gen_ai.usage.output_tokens": step.tokens_out,
            "swarm.cost_usd": round(step.cost_usd, 9),
            "swarm.cost.simulated": log.simulated,
        }
        if task.reasoning_effort:
            attrs["gen_ai.request.reasoning_effort"] = task.reasoning_effort
        if step.ref:
            attrs["gen_ai.response.id"] = step.ref
        reason = detail.get("finish_reason")
        if isinstance(reason, str):
            attrs["gen_ai.response.finish_reasons"] = (reason,)
        tries = detail.get("create_tries")
        if isinstance(tries, int):
            attrs["swarm.call.create_tries"] = tries
        if waits:
            limited = sum(int((n.data or {}).get("rate_limited") or 0) for n in waits)
            attrs["swarm.call.rate_limited"] = limited
            attrs["swarm.call.rate_wait_s"] = round(sum(_waited_s(n) for n in waits), 6)
    else:
        name = f"execute_tool {step.name}"
        kind = "INTERNAL"
        attrs = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": step.name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.type": "function",
        }
        if detail.get("ok") is False and error is None:
            error = "the tool reported a failure"
        if content:
            _tool_content(attrs, detail)
    attrs["swarm.step"] = step.n
    status: StatusCode = "UNSET"
    message = None
    if error is not None:
        status, message = "ERROR", _cut(str(error), ERROR_TEXT_CHARS)
        attrs["error.type"] = "tool_error" if step.kind == "tool" else "model_error"
    return Span(
        name=name,
        trace_id=trace_id(log.run_id),
        span_id=span_id(log.run_id, task.task_id, attempt.attempt, step.n),
        parent_id=parent,
        kind=kind,
        start=step.started_at,
        end=step.started_at + max(step.latency_s, 0.0),
        attributes=attrs,
        events=tuple(_note_event(n) for n in sorted(waits, key=lambda n: n.at)),
        status=status,
        status_message=message,
    )


def _content(attrs: Attributes, task: TaskFact, attempt: AttemptFact) -> None:
    """Opt-in content capture: the task's prompt and the attempt's answer as GenAI messages."""
    if task.prompt:
        message = [{"role": "user", "parts": [{"type": "text", "content": task.prompt}]}]
        attrs["gen_ai.input.messages"] = _cut(json.dumps(message), CONTENT_CHARS)
    if attempt.result is not None:
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": attempt.result}]}]
        attrs["gen_ai.output.messages"] = _cut(json.dumps(answer), CONTENT_CHARS)


def _tool_content(attrs: Attributes, detail: dict[str, object]) -> None:
    action = detail.get("action")
    if isinstance(action, dict) and "args" in action:
        attrs["gen_ai.tool.call.arguments"] = _cut(json.dumps(action["args"]), CONTENT_CHARS)
    observation = detail.get("observation")
    if isinstance(observation, str):
        attrs["gen_ai.tool.call.result"] = _cut(observation, CONTENT_CHARS)


def _note_event(note: Note) -> SpanEvent:
    attrs: Attributes = {}
    if note.task_id is not None:
        attrs["swarm.task.id"] = note.task_id
    for key, value in sorted(_flat(note.data or {})):
        if isinstance(value, bool | int | float | str):
            attrs[f"swarm.{key}"] = (
                _cut(value, ERROR_TEXT_CHARS) if isinstance(value, str) else value
            )
    return SpanEvent(f"swarm.{note.type}", note.at, attrs)


def _flat(data: dict[str, object]) -> Iterator[tuple[str, object]]:
    """An event's data with one level of nesting spelt out: ``run.limits_changed``'s
    ``{"max_tokens": {"from": 100, "to": 200}}`` is ``max_tokens.from`` and ``max_tokens.to``."""
    for key, value in data.items():
        if isinstance(value, dict):
            yield from ((f"{key}.{sub}", inner) for sub, inner in value.items())
        else:
            yield key, value


def _of(note: Note, attempt: AttemptFact) -> bool:
    return note.task_id == attempt.task_id and note.attempt == attempt.attempt


def _last_time(log: RunLog) -> float:
    ends = [a.finished_at for a in log.attempts.values()]
    return max([log.started_at or log.created_at, *ends])


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

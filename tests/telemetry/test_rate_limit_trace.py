"""Rate-limit waits and budget pauses in a run's trace (issue 23): a 429 storm through the real
Replicate client at the fake server puts one ``provider.rate_limited`` event on each held-back
model call's span, a handful of rows for the whole storm; a budget pause and the resume with new
limits are events of the run's span; live and rebuilt traces agree."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from swarm.plan import Plan
from swarm.providers.base import Provider
from swarm.providers.sim import Latency, SimProvider
from swarm.runtime import run as runs
from swarm.store.queries import Queries
from swarm.store.store import Store
from swarm.telemetry.load import load_run_log
from swarm.telemetry.sdk import BatchSink, readable_spans
from swarm.telemetry.trace_model import build_trace
from swarm.testing.fake_predictions import Script
from swarm.testing.fake_replicate import FakeReplicate, Fault
from tests.providers.conftest import fast_provider
from tests.telemetry.test_live_trace import _latest, _sdk_key

pytestmark = pytest.mark.anyio
TASKS = 300


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate() as server:
        yield server


def _plan(n: int, concurrency: int, **budget: Any) -> Plan:
    tasks = [{"id": f"t{i:03d}", "kind": "llm", "prompt": f"finding {i}"} for i in range(n)]
    return Plan.model_validate(
        {
            "goal": "storm",
            "tasks": tasks,
            "defaults": {"params": {"max_tokens": 64}},
            "budget": {"max_concurrency": concurrency, **budget},
        }
    )


async def _execute(db: Path, plan: Plan, provider: Provider, sink: BatchSink) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        hooks = runs.Hooks(span_sink=sink)
        return await runs.execute(store, plan, provider, runs.RunOptions(), run_id="r", hooks=hooks)
    finally:
        await store.close()


async def _rebuilt(db: Path) -> list[ReadableSpan]:
    store = await Store.open(db)
    try:
        return readable_spans(build_trace(await load_run_log(Queries(store), "r")))
    finally:
        await store.close()


def _rows(db: Path, event_type: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        sql = "SELECT count(*) FROM events WHERE type = ?"
        (count,) = conn.execute(sql, (event_type,)).fetchone()
    return int(count)


async def test_a_429_storm_on_300_tasks_is_a_bounded_set_of_call_span_events(
    fake: FakeReplicate, tmp_path: Path
) -> None:
    fake.script = lambda inputs: Script(["ok"])
    storm = Fault(429, retry_after="0.2")
    fake.storm(fraction=0.6, seconds=1.0, fault=storm, seed=5, from_next_creation=True)
    exporter = InMemorySpanExporter()
    provider = fast_provider(fake)
    db = tmp_path / "s.db"
    try:
        summary = await _execute(db, _plan(TASKS, 100), provider, BatchSink(exporter))
    finally:
        await provider.aclose()
    assert summary["status"] == "succeeded"
    answered_429 = [h for h in fake.creation_attempts() if h.status == 429]
    assert len(answered_429) >= 50  # a real storm

    rebuilt = await _rebuilt(db)
    assert _latest([_sdk_key(s) for s in exporter.get_finished_spans()]) == _latest(
        [_sdk_key(s) for s in rebuilt]
    )
    chats = [s for s in rebuilt if s.name.startswith("chat ")]
    held = [s for s in chats if any(e.name == "swarm.provider.rate_limited" for e in s.events)]
    events = [e for s in held for e in s.events if e.name == "swarm.provider.rate_limited"]
    assert len(events) == len(held) <= TASKS  # one per held-back call, whatever its 429s
    assert sum(int(e.attributes["swarm.rate_limited"]) for e in events) == len(answered_429)  # type: ignore[index]
    for span in held:
        event = next(e for e in span.events if e.name == "swarm.provider.rate_limited")
        attrs = event.attributes or {}
        assert attrs["swarm.status"] == 429 and attrs["swarm.retry_after_s"] == 0.2
        assert float(attrs["swarm.waited_s"]) >= 0.2 * int(attrs["swarm.rate_limited"]) - 0.01  # type: ignore[arg-type]
        assert span.attributes is not None and span.attributes["swarm.call.rate_limited"] >= 1  # type: ignore[operator]
        assert span.start_time is not None and span.end_time is not None and event.timestamp
        assert span.start_time <= event.timestamp <= span.end_time
    agents = [s for s in rebuilt if s.name.startswith("invoke_agent ")]
    slowed = [s for s in agents if s.attributes and "swarm.attempt.rate_wait_s" in s.attributes]
    assert len(slowed) >= len(held)
    # the storm's record: one row per held-back call, not one per 429 answer
    limited_rows = _rows(db, "provider.rate_limited")
    assert limited_rows == len(events) and _rows(db, "governor.waiting") <= TASKS


async def test_a_budget_pause_and_the_resume_with_new_limits_are_events_of_the_run_span(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    provider = SimProvider(latency=Latency.parse("fixed:0.005"))
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    summary = await _execute(db, _plan(40, 8, max_tokens=500), provider, BatchSink(first))
    assert summary["status"] == "paused"
    store = await Store.open(db)
    try:
        hooks = runs.Hooks(span_sink=BatchSink(second))
        limits = {"max_tokens": 100_000}
        summary = await runs.resume(store, "r", provider, hooks=hooks, limits=limits)
    finally:
        await store.close()
    assert summary["status"] == "succeeded"

    sent = [*first.get_finished_spans(), *second.get_finished_spans()]
    rebuilt = await _rebuilt(db)
    assert _latest([_sdk_key(s) for s in sent]) == _latest([_sdk_key(s) for s in rebuilt])
    run = next(s for s in rebuilt if s.name.startswith("invoke_workflow"))
    names = [e.name for e in run.events]
    assert names == [
        "swarm.run.started",
        "swarm.run.paused",
        "swarm.run.finished",
        "swarm.run.limits_changed",
        "swarm.run.resumed",
        "swarm.run.finished",
    ]
    paused = run.events[1].attributes or {}
    assert paused["swarm.resource"] == "tokens" and paused["swarm.limit"] == 500
    assert paused["swarm.flag"] == "--max-tokens" and paused["swarm.suggested"] > 500  # type: ignore[operator]
    changed = run.events[3].attributes or {}
    assert changed["swarm.max_tokens.from"] == 500
    assert changed["swarm.max_tokens.to"] == 100_000

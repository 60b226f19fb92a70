"""A run with an approval gate traces the same live as rebuilt from the database: the gated
attempt that ended waiting is a span of its own, not an error, and the gate's moments (reached,
approved by whom, rejected) are events of the run's span."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from swarm.plan import Plan
from swarm.runtime import run as runs
from swarm.store.approvals import ApprovalStore
from swarm.store.store import Store
from swarm.telemetry.sdk import BatchSink
from tests.fakes import ScriptedProvider, plan_data
from tests.telemetry.conftest import RUN_ID
from tests.telemetry.test_live_trace import _latest, _rebuilt, _sdk_key

pytestmark = pytest.mark.anyio


async def test_a_gated_run_traces_the_same_live_and_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    tasks = [
        {"id": "a", "kind": "llm", "prompt": "a"},
        {"id": "gate", "kind": "llm", "prompt": "g", "deps": ["a"], "approval": True},
    ]
    plan = Plan.model_validate(plan_data(tasks))
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    store = await Store.open(db)
    try:
        hooks = runs.Hooks(span_sink=BatchSink(first))
        summary = await runs.execute(
            store, plan, ScriptedProvider(), runs.RunOptions(), run_id=RUN_ID, hooks=hooks
        )
        assert summary["status"] == "waiting"
        await ApprovalStore(store).decide(RUN_ID, "gate", "approved", by="ann", note="secret")
        hooks = runs.Hooks(span_sink=BatchSink(second))
        summary = await runs.resume(store, RUN_ID, ScriptedProvider(), hooks=hooks)
        assert summary["status"] == "succeeded"
    finally:
        await store.close()
    sent = [*first.get_finished_spans(), *second.get_finished_spans()]
    rebuilt = await _rebuilt(db)
    assert _latest([_sdk_key(s) for s in sent]) == _latest([_sdk_key(s) for s in rebuilt])
    gate = sorted(
        (s for s in rebuilt if s.name == "invoke_agent gate"), key=lambda s: s.start_time or 0
    )
    outcomes = [s.attributes["swarm.attempt.outcome"] for s in gate]  # type: ignore[index]
    assert outcomes == ["suspended", "succeeded"]
    assert gate[0].status.status_code.name == "UNSET"

    workflow = [s for s in rebuilt if s.parent is None]
    gate_events = [
        (e.name, dict(e.attributes or {}))
        for e in workflow[-1].events
        if e.name.startswith("swarm.approval.")
    ]
    assert gate_events == [
        ("swarm.approval.requested", {"swarm.task.id": "gate", "swarm.attempt": 1}),
        (
            "swarm.approval.approved",
            {"swarm.task.id": "gate", "swarm.attempt": 1, "swarm.by": "ann"},
        ),
    ]  # the approver's note is not recorded


async def test_a_rejected_gate_is_an_event_of_the_run_span_live_and_rebuilt(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    tasks = [
        {"id": "a", "kind": "llm", "prompt": "a"},
        {"id": "gate", "kind": "llm", "prompt": "g", "deps": ["a"], "approval": True},
    ]
    plan = Plan.model_validate(plan_data(tasks))
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    store = await Store.open(db)
    try:
        hooks = runs.Hooks(span_sink=BatchSink(first))
        summary = await runs.execute(
            store, plan, ScriptedProvider(), runs.RunOptions(), run_id=RUN_ID, hooks=hooks
        )
        await ApprovalStore(store).decide(RUN_ID, "gate", "rejected", by="bob", note="no")
        hooks = runs.Hooks(span_sink=BatchSink(second))
        summary = await runs.resume(store, RUN_ID, ScriptedProvider(), hooks=hooks)
        assert summary["status"] == "failed"
    finally:
        await store.close()
    sent = [*first.get_finished_spans(), *second.get_finished_spans()]
    rebuilt = await _rebuilt(db)
    assert _latest([_sdk_key(s) for s in sent]) == _latest([_sdk_key(s) for s in rebuilt])
    workflow = [s for s in rebuilt if s.parent is None]
    names = [e.name for e in workflow[-1].events if e.name.startswith("swarm.approval.")]
    assert names == ["swarm.approval.requested", "swarm.approval.rejected"]

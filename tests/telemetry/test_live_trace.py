"""Live export and the rebuilt trace of one run (retries, a failure, a tool call, a resume):
through the SDK's in-memory exporter and through a real OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from swarm.plan import Plan
from swarm.runtime import run as runs
from swarm.store.queries import Queries
from swarm.store.store import Store
from swarm.telemetry import live
from swarm.telemetry.load import load_run_log
from swarm.telemetry.sdk import BatchSink, readable_spans
from swarm.telemetry.trace_model import build_trace, span_id, trace_id
from tests.cli.conftest import CliRunner
from tests.fakes import ScriptedProvider, plan_data
from tests.telemetry.conftest import RUN_ID, SLOW, OtlpReceiver, run_with_resume

pytestmark = pytest.mark.anyio
Key = tuple[Any, ...]


def _sorted(attributes: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((attributes or {}).items()))


def _sdk_key(span: ReadableSpan) -> Key:
    assert span.context is not None
    return (
        span.context.span_id,
        span.parent.span_id if span.parent else None,
        span.name,
        span.kind.value,
        span.start_time,
        span.end_time,
        _sorted(span.attributes),
        tuple((e.name, e.timestamp, _sorted(e.attributes)) for e in span.events),
        tuple((link.context.span_id, _sorted(link.attributes)) for link in span.links),
        span.status.status_code.value,
        span.status.description,
    )


def _pb_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(v.string_value for v in value.array_value.values)
    return getattr(value, which)


def _pb_attrs(attributes: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((kv.key, _pb_value(kv.value)) for kv in attributes))


def _pb_key(span: PbSpan) -> Key:
    return (
        span.span_id.hex(),
        span.parent_span_id.hex() or None,
        span.name,
        span.kind,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        _pb_attrs(span.attributes),
        tuple((e.name, e.time_unix_nano, _pb_attrs(e.attributes)) for e in span.events),
        tuple((link.span_id.hex(), _pb_attrs(link.attributes)) for link in span.links),
        span.status.code,
        span.status.message,
    )


def _latest(keys: Sequence[Key]) -> dict[Any, Key]:
    """By span id, the last version sent (a resumed run re-sends its run span at its end)."""
    return {key[0]: key for key in keys}


async def _rebuilt(db: Path) -> list[ReadableSpan]:
    store = await Store.open(db)
    try:
        log = await load_run_log(Queries(store), RUN_ID)
    finally:
        await store.close()
    return readable_spans(build_trace(log))


async def test_live_and_rebuilt_traces_agree(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    await run_with_resume(db, BatchSink(first), BatchSink(second))
    sent = [*first.get_finished_spans(), *second.get_finished_spans()]
    live_spans = _latest([_sdk_key(s) for s in sent])
    rebuilt = await _rebuilt(db)
    assert live_spans == _latest([_sdk_key(s) for s in rebuilt])

    by_name: dict[str, list[ReadableSpan]] = {}
    for span in rebuilt:
        by_name.setdefault(span.name, []).append(span)
        assert span.context is not None and span.context.trace_id == trace_id(RUN_ID)
    run = by_name["invoke_workflow swarm"][0]
    assert run.parent is None and run.attributes is not None
    assert run.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert run.attributes["swarm.run.status"] == "failed"
    sessions = [e.name for e in run.events if e.name.startswith("swarm.run.")]
    assert sessions == [
        "swarm.run.started",
        "swarm.run.finished",
        "swarm.run.resumed",
        "swarm.run.finished",
    ]
    assert by_name["plan planner"][0].parent.span_id == span_id(RUN_ID)  # type: ignore[union-attr]

    flaky = sorted(by_name["invoke_agent flaky"], key=lambda s: s.start_time or 0)
    assert [s.attributes["swarm.attempt.outcome"] for s in flaky] == ["failed", "succeeded"]  # type: ignore[index]
    assert [e.name for e in flaky[0].events] == ["swarm.retry.scheduled"]
    assert flaky[0].status.status_code.name == "ERROR"
    boom = by_name["invoke_agent boom"]
    assert [s.attributes["error.type"] for s in boom] == ["ProviderError"]  # type: ignore[index]
    # (a resume leaves a failed task failed: only `swarm retry` tries it again)

    cancelled = [s for n in range(SLOW) for s in by_name[f"invoke_agent w{n}"]]
    outcomes = sorted(str(s.attributes["swarm.attempt.outcome"]) for s in cancelled)  # type: ignore[index]
    assert outcomes == ["cancelled"] * SLOW + ["succeeded"] * SLOW  # before and after the resume

    tool_attempt = by_name["invoke_agent tool"][0]
    assert tool_attempt.context is not None
    children = [s for s in rebuilt if s.parent and s.parent.span_id == tool_attempt.context.span_id]
    chat_name = "chat moonshotai/kimi-k2.6"
    assert [s.name for s in children] == [chat_name, "execute_tool python", chat_name]
    python = children[1]
    assert python.attributes["gen_ai.tool.name"] == "python"  # type: ignore[index]
    assert python.attributes["gen_ai.tool.call.id"] == "tool/1/2"  # type: ignore[index]
    chat = children[0]
    assert chat.kind.name == "CLIENT" and chat.attributes["gen_ai.usage.input_tokens"] > 0  # type: ignore[index, operator]

    final = by_name["invoke_agent final"][0]
    linked = {link.context.span_id for link in final.links}
    assert linked == {span_id(RUN_ID, "tool", 1), span_id(RUN_ID, "w0", 2)}

    everything = json.dumps([str(_sdk_key(s)) for s in rebuilt])
    assert "secret prompt a" not in everything and "answer for" not in everything  # no content


async def test_content_capture_is_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(live.CAPTURE_CONTENT_ENV, "true")
    exporter = InMemorySpanExporter()
    await _small_run(tmp_path / "s.db", BatchSink(exporter))
    agent = next(s for s in exporter.get_finished_spans() if s.name == "invoke_agent a")
    assert agent.attributes is not None
    assert "only prompt" in str(agent.attributes["gen_ai.input.messages"])
    assert "answer to only prompt" in str(agent.attributes["gen_ai.output.messages"])


async def _small_run(db: Path, sink: live.SpanSink | None, n: int = 1) -> dict[str, Any]:
    tasks = [{"id": "a", "kind": "llm", "prompt": "only prompt"}]
    tasks += [{"id": f"b{i}", "kind": "llm", "prompt": f"b{i}"} for i in range(n - 1)]
    store = await Store.open(db)
    try:
        plan = Plan.model_validate(plan_data(tasks))
        hooks = runs.Hooks(span_sink=sink)
        return await runs.execute(
            store, plan, ScriptedProvider(), runs.RunOptions(), run_id="small", hooks=hooks
        )
    finally:
        await store.close()


class StuckExporter(SpanExporter):
    """A collector that never answers (until the test lets it go)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(30)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.release.set()


async def test_a_stuck_collector_neither_slows_nor_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "FLUSH_S", 0.2)
    stuck = StuckExporter()
    try:
        started = time.monotonic()
        summary = await _small_run(tmp_path / "s.db", BatchSink(stuck, max_queue_size=4), n=40)
        took = time.monotonic() - started
    finally:
        stuck.release.set()
    assert summary["status"] == "succeeded"
    stats = summary["telemetry"]
    assert stats["spans"] == 40 * 2 + 2  # each attempt and its model call; the run and the plan
    assert stats["exported"] == 0 and stats["dropped"] + stats["failed"] == stats["spans"]
    assert stats["dropped"] >= stats["spans"] - 8  # the queue holds 4, and 4 are in flight
    assert took < 5


def test_live_export_to_a_real_receiver_matches_swarm_export(
    tmp_path: Path, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    db = tmp_path / "s.db"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
    anyio.run(run_with_resume, db, None, None)
    live_spans = _latest([_pb_key(s) for s in receiver.spans()])
    assert receiver.content_types and set(receiver.content_types) == {"application/x-protobuf"}
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

    receiver.clear()
    result = cli("export", RUN_ID, "--db", db, "--format", "otlp", "--endpoint", receiver.endpoint)
    assert result.code == 0, result.err
    rebuilt = _latest([_pb_key(s) for s in receiver.spans()])
    assert rebuilt == live_spans
    assert f"sent {len(rebuilt)} spans" in result.err

    out = tmp_path / "trace.json"
    result = cli("export", RUN_ID, "--db", db, "--format", "otlp", "-o", out)
    assert result.code == 0, result.err
    request = json.loads(out.read_text())
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    as_json = {(s["spanId"], s.get("parentSpanId"), s["name"]) for s in spans}
    assert as_json == {(k[0], k[1], k[2]) for k in rebuilt.values()}
    assert all(s["traceId"] == f"{trace_id(RUN_ID):032x}" for s in spans)


def test_export_refuses_what_it_cannot_do(
    tmp_path: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # the exporter's retries, bounded
    db = tmp_path / "s.db"
    anyio.run(_small_run, db, None)
    nowhere = "http://127.0.0.1:9/v1/traces"  # the discard port: nothing listens
    otlp = ("export", "small", "--db", db, "--format", "otlp")
    both = cli(*otlp, "-o", tmp_path / "x", "--endpoint", nowhere)
    assert both.code == 2 and "either -o FILE or --endpoint" in both.err
    other = cli("export", "small", "--db", db, "--format", "yaml")
    assert other.code == 2 and "--format json" in other.err
    closed = cli(*otlp, "--endpoint", nowhere)
    assert closed.code == 3 and "could not be reached" in closed.err


NO_EXPORT = """
import sys, anyio
if sys.argv[2] == "blocked":
    sys.modules["opentelemetry"] = None  # as if the `otel` extra were not installed
from swarm.plan import Plan
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.fakes import ScriptedProvider

async def main():
    store = await Store.open(sys.argv[1])
    try:
        task = {"id": "a", "kind": "llm", "prompt": "p"}
        plan = Plan.model_validate({"goal": "g", "tasks": [task]})
        summary = await runs.execute(store, plan, ScriptedProvider(), runs.RunOptions())
    finally:
        await store.close()
    loaded = [m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v]
    print(summary["status"], "telemetry" in summary, len(loaded))

anyio.run(main)
"""


@pytest.mark.parametrize("case", ["off", "configured", "blocked"])
def test_opentelemetry_is_imported_only_when_configured(
    tmp_path: Path, receiver: OtlpReceiver, case: str
) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])}
    if case != "off":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.base_url
    done = subprocess.run(
        [sys.executable, "-c", NO_EXPORT, str(tmp_path / "s.db"), case],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    status, reported, loaded = done.stdout.split()
    assert status == "succeeded"
    if case == "configured":
        assert reported == "True" and int(loaded) > 0 and len(receiver.spans()) == 4
    else:  # off; or configured without the extra: a warning, and the run goes on
        assert reported == "False" and loaded == "0" and receiver.spans() == []
    if case == "blocked":
        assert "not exporting traces" in done.stderr and "swarm-harness[otel]" in done.stderr

"""A traced run to compare (retries, a failure, an agent's python tool call, a cancel and a
resume) and a real OTLP/HTTP receiver on 127.0.0.1 that decodes what it is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the `otel` extra")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from swarm.errors import ProviderError
from swarm.plan import Plan
from swarm.providers.base import ModelRequest
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.store import Store
from swarm.telemetry.live import SpanSink
from swarm.testing._http import Exchange, FakeHTTP
from tests.cli.conftest import cli  # noqa: F401 - the in-process CLI fixture
from tests.fakes import ScriptedProvider, plan_data

RUN_ID = "traced"
SLOW = 4


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class OtlpReceiver(FakeHTTP):
    """An OTLP/HTTP traces endpoint: decodes each protobuf request with opentelemetry-proto."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/v1/traces"

    def dispatch(self, exchange: Exchange) -> None:
        if exchange.command != "POST" or exchange.path != "/v1/traces":
            exchange.send_problem(404, "Not found", exchange.path)
            return
        body = exchange.read_body()
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            self.requests.append(request)
            self.content_types.append(exchange.headers.get("Content-Type", ""))
        data = ExportTraceServiceResponse().SerializeToString()
        exchange.send_response(200)
        exchange.send_header("Content-Type", "application/x-protobuf")
        exchange.send_header("Content-Length", str(len(data)))
        exchange.end_headers()
        exchange.wfile.write(data)

    def spans(self) -> list[PbSpan]:
        with self.lock:
            return [
                span
                for request in self.requests
                for resource in request.resource_spans
                for scope in resource.scope_spans
                for span in scope.spans
            ]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as fake:
        yield fake


def traced_plan() -> dict[str, Any]:
    tasks: list[dict[str, Any]] = [
        {"id": "a", "kind": "llm", "prompt": "secret prompt a"},
        {"id": "flaky", "kind": "llm", "prompt": "flaky", "retries": 2},
        {"id": "boom", "kind": "llm", "prompt": "boom", "retries": 0},
        {"id": "tool", "kind": "agent", "prompt": "compute", "deps": ["a"]},
    ]
    tasks += [
        {"id": f"w{i}", "kind": "llm", "prompt": f"w{i}", "deps": ["a", "flaky"]}
        for i in range(SLOW)
    ]
    tasks.append({"id": "final", "kind": "llm", "prompt": "final", "deps": ["tool", "w0"]})
    return plan_data(tasks, budget={"max_concurrency": 8}, defaults={"retries": 1})


class Script:
    """The model: ``flaky`` fails once, ``boom`` for good, ``tool`` calls python then finishes,
    the ``w`` tasks are slow in the first session (the run is cancelled while they run)."""

    def __init__(self) -> None:
        self.slow_started = anyio.Event()
        self.slow = True

    async def __call__(self, request: ModelRequest) -> str:
        _, task, attempt, step = request.call_key.split("/")
        if task == "boom":
            raise ProviderError("bad request (HTTP 400)", retryable=False, status=400)
        if task == "flaky" and attempt == "1":
            raise ProviderError("flaky upstream (HTTP 503)", retryable=True, status=503)
        if task == "tool":
            if step == "1":
                return json.dumps({"thought": "t", "tool": "python", "args": {"code": "print(42)"}})
            return json.dumps({"thought": "t", "tool": "finish", "args": {"answer": "42"}})
        if task.startswith("w") and self.slow:
            self.slow_started.set()
            await anyio.sleep(30)
        return f"answer for {task}"


async def run_with_resume(db: Path, first: SpanSink | None, second: SpanSink | None) -> None:
    """Execute the plan, cancel it while the ``w`` tasks run, then resume it to the end."""
    script = Script()
    provider = ScriptedProvider(script)
    holder: list[RunDriver] = []

    async def cancel_when_slow() -> None:
        await script.slow_started.wait()
        await anyio.sleep(0.1)
        holder[0].cancel()

    store = await Store.open(db)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_when_slow)
            hooks = runs.Hooks(on_start=holder.append, span_sink=first)
            plan = Plan.model_validate(traced_plan())
            summary = await runs.execute(
                store, plan, provider, runs.RunOptions(), run_id=RUN_ID, hooks=hooks
            )
        assert summary["status"] == "cancelled"
        script.slow = False
        summary = await runs.resume(store, RUN_ID, provider, hooks=runs.Hooks(span_sink=second))
        assert summary["status"] == "failed"  # boom fails for good; the rest succeed
    finally:
        await store.close()

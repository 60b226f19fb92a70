"""Native tool calls: the OpenAI-compatible provider offers the agent's tools and reads
streamed ``tool_calls``; a parallel turn runs its MCP calls concurrently and records them in
the model's order; the sim answers with tool calls too."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from swarm.errors import ProviderError
from swarm.mcp import RunTools
from swarm.mcp.pool import open_hub
from swarm.providers.base import ModelRequest
from swarm.providers.openai_compat import OpenAICompatProvider
from swarm.providers.sim import SimProvider
from swarm.providers.tool_calls import ToolCallStream
from swarm.testing.fake_openai import FAKE_KEY, FakeOpenAI
from tests.mcp.conftest import calls, plan_with, stdio_server
from tests.workers.conftest import make_ctx
from workers.agent import AgentWorker

pytestmark = pytest.mark.anyio
MODEL = "moonshotai/kimi-k2.6"


def test_fragments_fold_into_calls_in_index_order() -> None:
    stream = ToolCallStream()
    stream.take([{"index": 1, "id": "b", "function": {"name": "kb__add", "arguments": '{"a"'}}])
    stream.take([{"index": 0, "id": "a", "function": {"name": "kb__search", "arguments": ""}}])
    stream.take([{"index": 1, "function": {"arguments": ": 1}"}}])
    got = stream.calls()
    assert [(c.id, c.name, c.arguments) for c in got] == [
        ("a", "kb__search", "{}"),
        ("b", "kb__add", '{"a": 1}'),
    ]
    with pytest.raises(ProviderError, match="out of range"):
        stream.take([{"index": 10_000}])


async def test_provider_sends_tools_and_reads_streamed_calls() -> None:
    with FakeOpenAI() as server:
        server.script_tool_calls([("kb__search", {"query": "anyio"}), ("kb__add", {"a": 1})])
        provider = OpenAICompatProvider(FAKE_KEY, server.base_url + "/v1", rate_limit=60_000)
        tool = {"type": "function", "function": {"name": "kb__search", "parameters": {}}}
        try:
            response = await provider.complete(ModelRequest(model=MODEL, prompt="p", tools=(tool,)))
        finally:
            await provider.aclose()
        body = server.requests[0]
    assert body["tools"] == [tool] and body["parallel_tool_calls"] is True
    assert [(c.name, json.loads(c.arguments)) for c in response.tool_calls] == [
        ("kb__search", {"query": "anyio"}),
        ("kb__add", {"a": 1}),
    ]


async def test_parallel_turn_runs_concurrently_and_records_in_order(
    tmp_path: Path, log: Path
) -> None:
    plan = plan_with({"kb": stdio_server(log, max_concurrency=4)})
    spec = {"kind": "agent", "prompt": "Research anyio.", "tools": ["kb.*"]}
    with FakeOpenAI(models=("m",)) as server:
        server.script_tool_calls(
            [("kb__slow", {"seconds": 1.5}), ("kb__search", {"query": "anyio"})],
            [("kb__slow", {"seconds": 1.5}), ("kb__slow", {"seconds": 1.4})],
            [("finish", {"answer": "done"})],
        )
        provider = OpenAICompatProvider(FAKE_KEY, server.base_url + "/v1", rate_limit=60_000)
        try:
            async with open_hub(plan, environ={}) as hub:
                await hub.tools(["kb.*"])  # the server is up before the clock starts
                ctx = make_ctx(tmp_path, spec, provider)
                ctx.tool_hub = RunTools(plan.fetch, hub)
                started = time.perf_counter()
                result = await AgentWorker().run(ctx)
                took = time.perf_counter() - started
        finally:
            await provider.aclose()
        offered = [t["function"]["name"] for t in server.requests[0]["tools"]]
    assert result == "done"
    assert "kb__search" in offered and "finish" in offered and "kb__delete_all" in offered
    tools = [(s.name, s.detail["action"]["args"]) for s in ctx.steps if s.kind == "tool"]  # type: ignore[index]
    assert tools == [
        ("kb.slow", {"seconds": 1.5}),
        ("kb.search", {"query": "anyio"}),
        ("kb.slow", {"seconds": 1.5}),
        ("kb.slow", {"seconds": 1.4}),
    ]
    assert took < 4.4  # two turns of 1.5 s each, not 4.4 s of calls one after another
    assert sorted(calls(log)) == ["search", "slow", "slow", "slow"]
    model_step = ctx.steps[0]
    assert model_step.detail is not None and len(model_step.detail["actions"]) == 2


async def test_sim_answers_with_a_parallel_turn_of_tool_calls(tmp_path: Path, log: Path) -> None:
    plan = plan_with({"kb": stdio_server(log)})
    spec = {"kind": "agent", "prompt": "anyio", "tools": ["kb.search", "kb.add"]}
    async with open_hub(plan, environ={}) as hub:
        ctx = make_ctx(tmp_path, spec, SimProvider())
        ctx.tool_hub = RunTools(plan.fetch, hub)
        await AgentWorker().run(ctx)
    kinds = [(s.kind, s.name) for s in ctx.steps[:3]]
    assert kinds == [("model", "m"), ("tool", "kb.search"), ("tool", "kb.add")]
    assert sorted(calls(log)) == ["add", "search"]

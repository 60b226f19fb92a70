"""An orchestrator-mode run through the real clients against the local fakes: the official
``replicate`` client (turns as JSON text streamed over SSE) and the OpenAI-compatible client
(turns as native ``Agent`` / ``AgentSwarm`` / ``final`` tool calls)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarm.api import Swarm
from swarm.core.retry import RetryPolicy
from swarm.providers.openai_compat import OpenAICompatProvider
from swarm.testing.fake_openai import FAKE_KEY, FakeOpenAI
from swarm.testing.fake_orchestrator import orchestrator_script
from swarm.testing.fake_replicate import FakeReplicate
from tests.providers.conftest import fast_provider
from workers.actions import TOOL_ARGS

pytestmark = pytest.mark.anyio
GOAL = "Compare three brokers\n- Kafka\n- RabbitMQ\n- NATS"


async def test_an_orchestrator_run_through_the_replicate_client(
    fake: FakeReplicate, tmp_path: Path
) -> None:
    fake.script = orchestrator_script
    provider = fast_provider(fake)
    try:
        async with Swarm(tmp_path / "s.db", provider=provider, artifacts_dir=tmp_path) as sw:
            summary = await sw.submit(GOAL, mode="orchestrate", run_id="o")
            results = {r.task_id: r for r in await sw.results("o")}
    finally:
        await provider.aclose()
    assert summary.status == "succeeded"
    assert sorted(results) == [
        "orchestrator",
        "orchestrator:s1-1",
        "orchestrator:s1-2",
        "orchestrator:s1-3",
        "orchestrator:s2-1",
    ]
    assert (results["orchestrator:s1-2"].result or "").startswith(
        "[fake kimi] answer to: Research RabbitMQ for the task 'Compare three brokers'."
    )
    final = results["orchestrator"].result or ""
    assert final.startswith("[simulated] Orchestrated answer to: Compare three brokers")
    turns = [
        p
        for p in fake.predictions.values()
        if "orchestrator" in str(p.inputs.get("system_prompt", ""))
    ]
    assert len(turns) == 3  # one prediction per turn, none re-asked
    assert summary.metrics is not None and summary.metrics["steps_critical"] == 3 + 1 + 1


async def test_an_orchestrator_run_through_native_tool_calls(tmp_path: Path) -> None:
    swarm_call = {
        "description": "brokers",
        "prompt_template": "Describe the broker {{item}} in two sentences",
        "items": ["Kafka", "NATS"],
        "subagent_type": "llm",
    }
    with FakeOpenAI() as server:
        server.script_tool_calls(
            [("AgentSwarm", swarm_call)], [("final", {"answer": "Kafka and NATS, compared."})]
        )
        provider = OpenAICompatProvider(
            FAKE_KEY,
            server.base_url + "/v1",
            rate_limit=60_000,
            create_policy=RetryPolicy(0.01, 0.05),
        )
        try:
            async with Swarm(tmp_path / "s.db", provider=provider, artifacts_dir=tmp_path) as sw:
                summary = await sw.submit(GOAL, mode="orchestrate", run_id="o", model="kimi-k2.6")
                results = {r.task_id: r.result for r in await sw.results("o")}
        finally:
            await provider.aclose()
        offered = [b for b in server.requests if b.get("tools")]
    assert summary.status == "succeeded"
    assert results["orchestrator"] == "Kafka and NATS, compared."
    assert (
        results["orchestrator:s1-2"]
        == "[fake kimi] answer to: Describe the broker NATS in two sentences"
    )
    assert len(offered) == 2
    names = [t["function"]["name"] for t in offered[0]["tools"]]
    # Kimi's tools, then the orchestrator's own (the agent's built-ins: no MCP here)
    assert names == ["Agent", "AgentSwarm", "final", *TOOL_ARGS]
    second = offered[1]["messages"][-1]["content"]
    assert "## Turn 1 results" in second and json.dumps(swarm_call["items"]) in second

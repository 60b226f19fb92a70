"""Agents with MCP and fetch tools: only the listed tools are offered and callable, every call
is a recorded step, and a whole run through the sim keeps no secret in the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from swarm.mcp import RunTools
from swarm.mcp.pool import open_hub
from swarm.plan import Plan
from swarm.providers.base import ModelRequest
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.mcp.conftest import calls, plan_with, stdio_server
from tests.workers.conftest import act, actions, in_order, make_ctx
from workers.actions import Action
from workers.agent import AgentWorker
from workers.tools import ToolError

pytestmark = pytest.mark.anyio


async def test_agent_calls_allowed_tools_and_is_refused_the_rest(tmp_path: Path, log: Path) -> None:
    plan = plan_with({"kb": stdio_server(log)})
    seen: list[ModelRequest] = []

    def script(request: ModelRequest) -> Any:
        seen.append(request)
        return answers(request)

    answers = in_order(
        act("kb.search", query="anyio"),
        act("kb.delete_all"),  # not in the task's list: refused, never sent
        act("finish", answer="anyio has task groups"),
    )
    spec = {"kind": "agent", "prompt": "Research anyio.", "tools": ["kb.search"]}
    async with open_hub(plan, environ={}) as hub:
        ctx = make_ctx(tmp_path, spec, actions(script))
        ctx.tool_hub = RunTools(plan.fetch, hub)
        result = await AgentWorker().run(ctx)
    assert result == "anyio has task groups"
    assert calls(log) == ["search"]
    assert "kb.search" in seen[0].prompt and "kb.delete_all" not in seen[0].prompt
    tool = next(s for s in ctx.steps if s.kind == "tool")
    assert tool.name == "kb.search" and tool.detail is not None
    assert "task groups" in tool.detail["observation"] and tool.detail["ok"]
    assert tool.detail["action"]["args"] == {"query": "anyio"}
    rejected = [s.detail["rejected"] for s in ctx.steps if s.detail and "rejected" in s.detail]
    assert rejected and "unknown or unavailable tool 'kb.delete_all'" in rejected[0]


async def test_toolbox_refuses_an_unlisted_tool_even_if_parsed(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"kind": "agent", "prompt": "p"})
    from workers.agent import AgentConfig, Episode
    from workers.sandbox import ProcessSandbox

    episode = Episode(ctx, AgentConfig(), ProcessSandbox(), 100_000)
    with pytest.raises(ToolError, match=r"no tool 'kb\.delete_all'"):
        await episode.tools.call(Action("kb.delete_all", {}))


async def test_failed_call_is_an_observation_with_its_error(tmp_path: Path, log: Path) -> None:
    plan = plan_with({"kb": stdio_server(log, call_timeout_s=0.3)})
    spec = {"kind": "agent", "prompt": "p", "tools": ["kb.slow"]}
    script = in_order(act("kb.slow", seconds=30), act("finish", answer="gave up"))
    async with open_hub(plan, environ={}) as hub:
        ctx = make_ctx(tmp_path, spec, actions(script))
        ctx.tool_hub = RunTools(plan.fetch, hub)
        assert await AgentWorker().run(ctx) == "gave up"
    tool = next(s for s in ctx.steps if s.kind == "tool")
    assert tool.detail is not None and not tool.detail["ok"]
    assert tool.detail["call"] == {"error": tool.detail["call"]["error"], "retryable": True}
    assert "timed out" in tool.detail["observation"]


async def test_sim_run_records_tool_steps_and_no_secret(
    tmp_path: Path, log: Path, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-0123456789-secret"
    monkeypatch.setenv("KB_TOKEN", secret)
    tasks = [
        {
            "id": f"r{i}",
            "kind": "agent",
            "prompt": f"KB_TOKEN anyio research {i}, see {site}/page.html",
            "tools": ["kb.search", "kb.echo_secret", "fetch"],
        }
        for i in range(3)
    ]
    plan = Plan.model_validate(
        {
            "goal": "research",
            "tasks": tasks,
            "mcp_servers": {"kb": stdio_server(log, env=["KB_TOKEN"])},
            "fetch": {"allow_private": True},
        }
    )
    db = tmp_path / "swarm.db"
    store = await Store.open(db)
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        summary = await runs.execute(store, plan, SimProvider(), options, run_id="r")
    finally:
        await store.close()
    assert summary["status"] == "succeeded"
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM steps WHERE kind='tool' ORDER BY id")]
        results = [r[0] for r in conn.execute("SELECT result FROM tasks")]
        dump = "\n".join(conn.iterdump())
    assert names.count("kb.search") == 3 and names.count("fetch") == 3
    assert sorted(set(calls(log))) == ["echo_secret", "search"]
    assert all("kb.search: anyio: anyio is" in r for r in results)
    assert all("fetch: # Task groups" in r for r in results)
    assert secret not in dump and "[redacted]" in dump

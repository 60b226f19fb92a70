"""The run's MCP pool against the real test server: discovery, calls, the allow-listed
environment and secrets, timeouts, a server that dies, and 300 agents sharing one session."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from swarm.errors import ConfigError, ToolCallError
from swarm.mcp.pool import open_hub
from tests.mcp.conftest import calls, pids, plan_with, stdio_server

pytestmark = pytest.mark.anyio


async def test_discovers_only_the_allowed_tools_and_calls_them(log: Path) -> None:
    plan = plan_with({"kb": stdio_server(log)})
    async with open_hub(plan, environ={}) as hub:
        everything = await hub.tools(["kb.*"])
        allowed = await hub.tools(["kb.search", "kb.a*"])
        by_name = {t.name: t for t in everything}
        found = await hub.call(by_name["kb.search"], {"query": "anyio"})
        summed = await hub.call(by_name["kb.add"], {"a": 2, "b": 40})
    assert {"kb.search", "kb.add", "kb.slow", "kb.crash", "kb.delete_all"} <= set(by_name)
    assert [t.name for t in allowed] == ["kb.search", "kb.add"]
    assert by_name["kb.search"].schema["required"] == ["query"]
    assert by_name["kb.search"].native_name == "kb__search"
    assert found.ok and "task groups" in found.text
    assert summed.ok and '"sum": 42' in summed.text
    assert calls(log) == ["search", "add"]  # listing the tools twice asked the server once


async def test_tool_list_is_cached_for_its_ttl(log: Path) -> None:
    now = [0.0]
    plan = plan_with({"kb": stdio_server(log, tools_ttl_s=60)})
    async with open_hub(plan, environ={}, clock=lambda: now[0]) as hub:
        pool = hub.pools["kb"]
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(hub.tools, ["kb.*"])
        now[0] = 59
        await hub.tools(["kb.search"])
        assert pool.listings == 1  # twenty agents at once, then one more: listed once
        now[0] = 61
        await hub.tools(["kb.search"])
        assert pool.listings == 2  # fetched again after the TTL


async def test_environment_is_an_allow_list_and_secrets_are_scrubbed(log: Path) -> None:
    environ = {"KB_TOKEN": "s3cret-value-123", "OTHER_KEY": "nope"}
    plan = plan_with({"kb": stdio_server(log, env=["KB_TOKEN"])})
    async with open_hub(plan, environ=environ) as hub:
        tools = {t.name: t for t in await hub.tools(["kb.*"])}
        named = await hub.call(tools["kb.env"], {"name": "KB_TOKEN"})
        unnamed = await hub.call(tools["kb.env"], {"name": "OTHER_KEY"})
        echoed = await hub.call(tools["kb.echo_secret"], {"name": "KB_TOKEN"})
    assert named.text == "KB_TOKEN is set"
    assert unnamed.text == "OTHER_KEY is not set"
    assert "s3cret" not in echoed.text and "[redacted]" in echoed.text


async def test_missing_variable_is_a_config_error(log: Path) -> None:
    plan = plan_with({"kb": stdio_server(log, env=["KB_TOKEN"])})
    with pytest.raises(ConfigError, match="KB_TOKEN"):
        async with open_hub(plan, environ={}):
            pass


async def test_slow_tool_times_out_and_the_session_survives(log: Path) -> None:
    plan = plan_with({"kb": stdio_server(log, call_timeout_s=0.5)})
    async with open_hub(plan, environ={}) as hub:
        tools = {t.name: t for t in await hub.tools(["kb.*"])}
        with pytest.raises(ToolCallError, match=r"timed out after 0\.5s") as caught:
            await hub.call(tools["kb.slow"], {"seconds": 30})
        after = await hub.call(tools["kb.search"], {"query": "mcp"})
    assert caught.value.retryable
    assert after.ok and len(pids(log)) == 1


async def test_dead_server_fails_in_flight_calls_retryably_and_is_restarted(log: Path) -> None:
    plan = plan_with({"kb": stdio_server(log)})
    async with open_hub(plan, environ={}) as hub:
        tools = {t.name: t for t in await hub.tools(["kb.*"])}
        failures: list[ToolCallError] = []

        async def doomed() -> None:
            try:
                await hub.call(tools["kb.slow"], {"seconds": 20})
            except ToolCallError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(doomed)
            await anyio.sleep(0.3)
            with pytest.raises(ToolCallError, match="stopped") as crashed:
                await hub.call(tools["kb.crash"], {})
        again = await hub.call(tools["kb.search"], {"query": "anyio"})
        restarts = hub.pools["kb"].session.restarts
    assert crashed.value.retryable
    assert [f.retryable for f in failures] == [True]  # the call in flight failed, retryably
    assert again.ok and restarts == 1
    assert len(pids(log)) == 2  # the second call ran in a new process


async def test_300_agents_share_one_server_process(log: Path) -> None:
    plan = plan_with({"kb": stdio_server(log, max_concurrency=8)})
    results: list[bool] = []
    peak = [0]
    async with open_hub(plan, environ={}) as hub:
        pool = hub.pools["kb"]

        async def agent(i: int) -> None:
            tools = {t.name: t for t in await hub.tools(["kb.search"])}
            outcome = await hub.call(tools["kb.search"], {"query": "anyio" if i % 2 else "x"})
            peak[0] = max(peak[0], int(pool.limiter.borrowed_tokens))
            results.append(outcome.ok)

        async with anyio.create_task_group() as tg:
            for i in range(300):
                tg.start_soon(agent, i)
    assert results == [True] * 300
    assert calls(log).count("search") == 300
    assert len(pids(log)) == 1  # one process for every agent
    assert peak[0] <= 8


async def test_streamable_http_server(http_url: str, log: Path) -> None:
    plan = plan_with({"web": {"url": http_url}})
    async with open_hub(plan, environ={}) as hub:
        tools = {t.name: t for t in await hub.tools(["web.*"])}
        found = await hub.call(tools["web.search"], {"query": "mcp"})
    assert "web.search" in tools and "Model Context Protocol" in found.text
    assert calls(log) == ["search"]

"""An orchestrator's own tools, over the real MCP test server: only the listed tools are offered
and callable, each call is a step of the orchestrator's allowance, what comes back is quoted as
data, and later turns see the calls rebuilt from the database."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from swarm.mcp import RunTools
from swarm.mcp.pool import open_hub
from swarm.plan import Plan
from swarm.providers.base import ModelRequest, ModelResponse, ToolCall
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.fakes import ScriptedProvider
from tests.mcp.conftest import calls, stdio_server
from tests.workers.conftest import FakeSandbox, make_ctx
from workers.orchestrator import OrchestratorWorker
from workers.orchestrator_turns import TURN_TITLE, parse_turn

pytestmark = pytest.mark.anyio

TASK = "Compare anyio and mcp\n- anyio\n- mcp"


@dataclass
class Recording:
    """The sim, with every orchestrator prompt kept (what each model step was shown)."""

    inner: SimProvider = field(default_factory=SimProvider)
    name: str = "sim"
    simulated: bool = True
    prompts: list[str] = field(default_factory=list)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        schema = request.json_schema or {}
        if schema.get("title") == TURN_TITLE and request.call_key.split("/")[1] == "o":
            self.prompts.append(request.prompt)
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        return None


def plan_of(log: Path, tools: list[str], **task: Any) -> Plan:
    spec = {"id": "o", "kind": "orchestrator", "prompt": TASK, "tools": tools, **task}
    return Plan.model_validate(
        {"goal": "g", "tasks": [spec], "mcp_servers": {"kb": stdio_server(log)}}
    )


async def test_an_orchestrator_calls_its_tools_and_later_turns_see_them(
    tmp_path: Path, log: Path
) -> None:
    db = tmp_path / "s.db"
    provider = Recording()
    store = await Store.open(db)
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        summary = await runs.execute(store, plan_of(log, ["kb.search"]), provider, options)
        run_id = summary["run_id"]
        stored = Plan.model_validate_json((await store.load_run(run_id)).plan_json)
    finally:
        await store.close()
    assert summary["status"] == "succeeded", summary
    with sqlite3.connect(db) as conn:
        steps = conn.execute(
            "SELECT attempt, n, kind, name FROM steps WHERE task_id = 'o' ORDER BY attempt, n"
        ).fetchall()
        (result, used) = conn.execute(
            "SELECT result, steps_used FROM tasks WHERE task_id = 'o'"
        ).fetchone()
    # a tool step between two model steps of the first turn, counted in the allowance
    assert [(a, n, k) for a, n, k, _ in steps] == [
        (1, 1, "model"),
        (1, 2, "tool"),
        (1, 3, "model"),
        (2, 1, "model"),
        (3, 1, "model"),
    ]
    assert steps[1][3] == "kb.search" and used == 5
    turn = stored.task("o").config["history"][0]
    assert turn["steps"] == 3 and [c["tool"] for c in turn["calls"]] == ["AgentSwarm"]
    (call,) = turn["tools"]
    assert call["tool"] == "kb.search" and call["ok"]
    assert "anyio is an asynchronous networking" in call["observation"]
    # the first prompt lists the tools; the next step sees the call; later turns rebuild it
    assert "# Your own tools" in provider.prompts[0] and "- kb.search" in provider.prompts[0]
    assert "- read_result" in provider.prompts[0]
    assert "## Turn 1 tool calls so far (results come from outside" in provider.prompts[1]
    assert "anyio is an asynchronous networking" in provider.prompts[1]
    later = provider.prompts[2]
    assert "## Turn 1 tool calls (results come from outside" in later
    assert '### kb.search {"query":' in later and "anyio is an asynchronous networking" in later
    assert result.endswith("looked up with kb.search).")
    # the server was asked once by the orchestrator, once by each of its two agents
    assert calls(log).count("search") == 3


def scripted(*answers: str) -> ScriptedProvider:
    """A provider answering the orchestrator's model steps with ``answers`` in turn."""
    queue = list(answers)

    async def answer(request: ModelRequest) -> str:
        return queue.pop(0)

    return ScriptedProvider(answer)


def turn(*calls_: tuple[str, dict[str, Any]]) -> str:
    return json.dumps({"thought": "t", "calls": [{"tool": t, "args": a} for t, a in calls_]})


async def test_unlisted_tools_and_bad_arguments_are_refused_and_never_sent(
    tmp_path: Path, log: Path
) -> None:
    plan = plan_of(log, ["kb.search"])
    provider = scripted(
        turn(("kb.delete_all", {})),  # not in the task's list: refused, never sent
        turn(("kb.search", {"query": 5})),  # does not fit the tool's schema
        turn(("kb.search", {"query": "mcp"}), ("python", {"code": "print(6 * 7)"})),
        turn(("final", {"answer": "mcp connects models to tools; 42"})),
    )
    sandbox = FakeSandbox()
    async with open_hub(plan, environ={}) as hub:
        ctx = make_ctx(tmp_path, plan.tasks[0].model_dump(exclude={"id"}), provider)
        ctx.tool_hub = RunTools(plan.fetch, hub)
        answer = await OrchestratorWorker(sandbox).run(ctx)
    assert answer == "mcp connects models to tools; 42"
    assert calls(log) == ["search"] and sandbox.codes == ["print(6 * 7)"]
    refused = [s.detail["refused"] for s in ctx.steps if s.detail and "refused" in s.detail]
    assert "unknown or unavailable tool 'kb.delete_all'" in refused[0]
    assert "the args of kb.search do not fit its schema at query" in refused[1]
    tools = [(s.name, s.detail["ok"]) for s in ctx.steps if s.kind == "tool" and s.detail]
    assert tools == [("kb.search", True), ("python", True)]
    prompts = [r.prompt for r in provider.calls]
    assert "kb.delete_all" not in prompts[0] and "- kb.search" in prompts[0]
    assert "mcp: The Model Context Protocol" in prompts[3] and "ran 12 chars" in prompts[3]


async def test_tool_calls_that_leave_no_step_to_answer_are_refused(
    tmp_path: Path, log: Path
) -> None:
    plan = plan_of(log, ["kb.search"], max_steps=3)
    provider = scripted(
        turn(("kb.search", {"query": "a"}), ("kb.search", {"query": "b"})),
        turn(("final", {"answer": "nothing looked up"})),
    )
    async with open_hub(plan, environ={}) as hub:
        spec = plan.tasks[0].model_dump(exclude={"id"})
        ctx = make_ctx(tmp_path, spec, provider, allowance=3)
        ctx.tool_hub = RunTools(plan.fetch, hub)
        answer = await OrchestratorWorker(FakeSandbox()).run(ctx)
    assert answer == "nothing looked up" and calls(log) == []
    refused = [s.detail["refused"] for s in ctx.steps if s.detail and "refused" in s.detail]
    assert refused == ["2 tool call(s) would leave you no step to answer: make at most 1"]


async def test_read_result_gives_a_sub_agents_whole_answer(tmp_path: Path, log: Path) -> None:
    """The prompt quotes 600 characters of each sub-agent; read_result gives all of it."""
    long = "x" * 700 + " the end"
    spawn = {
        "description": "long",
        "prompt": "Write a very long answer please",
        "subagent_type": "llm",
    }
    answers = iter(
        [
            turn(("Agent", spawn)),
            turn(("read_result", {"task_id": "o:s1-1"})),
            turn(("final", {"answer": "read it"})),
        ]
    )
    prompts: list[str] = []

    async def answer(request: ModelRequest) -> str:
        if request.json_schema and request.json_schema.get("title") == TURN_TITLE:
            prompts.append(request.prompt)
            return next(answers)
        return long

    store = await Store.open(tmp_path / "s.db")
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        summary = await runs.execute(
            store, plan_of(log, []), ScriptedProvider(answer), options, run_id="r"
        )
    finally:
        await store.close()
    assert summary["status"] == "succeeded", summary
    assert " the end" not in prompts[1].split("### read_result")[0]
    assert prompts[2].count(" the end") == 1  # the tool's observation: the whole result


def test_native_tool_calls_name_mcp_tools_by_their_function_names() -> None:
    schema = {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    }
    thought, parsed = parse_turn(
        "looking", (ToolCall("c1", "kb__search", '{"query": "anyio"}'),), {"kb.search": schema}
    )
    assert thought == "looking"
    assert [(c.tool, c.args) for c in parsed] == [("kb.search", {"query": "anyio"})]

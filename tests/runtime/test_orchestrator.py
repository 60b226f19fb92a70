"""Orchestrator-mode runs through the real runtime: sub-agents added durably turn by turn, the
conversation rebuilt from recorded state, bad answers re-asked, nesting, critical stages."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.errors import ProviderError
from swarm.orchestrate import orchestrator_plan
from swarm.plan import Plan, RunBudget
from swarm.providers.base import ModelRequest, ModelResponse
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.runtime.metrics import metrics_of
from swarm.store.queries import Queries
from swarm.store.store import Store
from workers.orchestrator_turns import TURN_TITLE

pytestmark = pytest.mark.anyio

GOAL = "Compare message queues for a small team\n- Kafka\n- RabbitMQ\n- NATS\n- Redis streams"
PROMPT = "Summarise the history of Kafka in a paragraph"


@dataclass
class Recording:
    """The sim, with every orchestrator prompt kept (what each turn was shown)."""

    inner: SimProvider = field(default_factory=SimProvider)
    name: str = "sim"
    simulated: bool = True
    turns: list[tuple[str, str]] = field(default_factory=list)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if request.json_schema and request.json_schema.get("title") == TURN_TITLE:
            task = request.call_key.split("/")[1]
            self.turns.append((task, request.prompt))
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        return None


@dataclass
class Scripted:
    """A model that answers orchestrator turns from a script (task id, prompt) → text, and
    anything else as the sim does."""

    script: Callable[[str, str], str]
    name: str = "scripted"
    simulated: bool = True
    sim: SimProvider = field(default_factory=SimProvider)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if request.json_schema and request.json_schema.get("title") == TURN_TITLE:
            text = self.script(request.call_key.split("/")[1], request.prompt)
            return ModelResponse(text=text, tokens_in=10, tokens_out=10, latency_s=0.0)
        return await self.sim.complete(request)

    async def aclose(self) -> None:
        return None


def turn(*calls: tuple[str, dict[str, Any]]) -> str:
    return json.dumps({"thought": "t", "calls": [{"tool": t, "args": a} for t, a in calls]})


async def run_plan(tmp_path: Path, plan: Plan, provider: Any) -> tuple[dict[str, Any], Plan, Any]:
    store = await Store.open(tmp_path / "s.db")
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        summary = await runs.execute(store, plan, provider, options, run_id="r")
        stored = Plan.model_validate_json((await store.load_run("r")).plan_json)
        metrics = metrics_of(await Queries(store).detail("r"))
    finally:
        await store.close()
    return summary, stored, metrics


async def test_a_sim_orchestrator_fans_out_checks_and_answers(tmp_path: Path) -> None:
    provider = Recording()
    summary, stored, metrics = await run_plan(tmp_path, orchestrator_plan(GOAL), provider)
    assert summary["status"] == "succeeded", summary
    ids = [t.id for t in stored.tasks]
    assert ids == [
        "orchestrator",
        *(f"orchestrator:s1-{n}" for n in range(1, 5)),
        "orchestrator:s2-1",
    ]
    history = stored.task("orchestrator").config["history"]
    assert [t["children"] for t in history] == [ids[1:5], ids[5:]]
    assert history[0]["calls"][0]["tool"] == "AgentSwarm" and history[0]["steps"] == 1
    # three turns, three model calls: each later turn was rebuilt, not re-asked
    assert [task for task, _ in provider.turns] == ["orchestrator"] * 3
    second = provider.turns[1][1]
    assert "## Turn 1\n" in second and "Kafka" in second
    assert "### orchestrator:s1-1 (research part 1: Kafka): succeeded" in second
    with sqlite3.connect(tmp_path / "s.db") as conn:
        (result,) = conn.execute(
            "SELECT result FROM tasks WHERE task_id = 'orchestrator'"
        ).fetchone()
        steps = dict(conn.execute("SELECT task_id, count(*) FROM steps GROUP BY task_id"))
        deps = {t: json.loads(d) for t, d in conn.execute("SELECT task_id, deps_json FROM tasks")}
    assert result.startswith("[simulated] Orchestrated answer to: Compare message queues")
    # the stored DAG connects the orchestrator to every sub-agent it spawned; its spec does
    # not depend on them (it waits on them: a failed one is a tool result, not a skip)
    assert deps == {"orchestrator": ids[1:], **{i: [] for i in ids[1:]}}
    assert stored.task("orchestrator").deps == []
    assert metrics.critical_path[-1] == "orchestrator" and len(metrics.critical_path) == 2
    # Kimi's critical steps: the orchestrator's 3 steps + the slowest sub-agent of each stage
    slowest = max(steps[i] for i in ids[1:5])
    assert metrics.steps_critical == 3 + slowest + steps["orchestrator:s2-1"]
    assert [(s.stage, s.subagents) for s in metrics.stages] == [(1, 4), (2, 1)]
    assert summary["metrics"]["steps_critical"] == metrics.steps_critical
    assert summary["metrics"]["stages"][0]["slowest_steps"] == slowest


async def test_bad_answers_are_re_asked_within_the_step_allowance(tmp_path: Path) -> None:
    answers = iter(
        [
            "I think we should look into it.",  # not JSON
            turn(("AgentSwarm", {"prompt_template": "Study {{item}} now", "items": ["one"]})),
            turn(("Agent", {"description": "d", "prompt": "go"})),  # too thin
            turn(("Agent", {"description": "d", "prompt": "Summarise the history of Kafka"})),
            turn(("final", {"answer": "done"})),
        ]
    )
    prompts: list[str] = []

    def script(task: str, prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    summary, stored, _ = await run_plan(
        tmp_path, orchestrator_plan("Explain Kafka"), Scripted(script)
    )
    assert summary["status"] == "succeeded"
    assert [t.id for t in stored.tasks] == ["orchestrator", "orchestrator:s1-1"]
    assert "is not JSON" in prompts[1] and "2 to 50 (got 1)" in prompts[2]
    assert "too thin to act on" in prompts[3]
    assert stored.task("orchestrator").config["history"][0]["steps"] == 4
    with sqlite3.connect(tmp_path / "s.db") as conn:
        details = [
            json.loads(d)
            for (d,) in conn.execute(
                "SELECT detail_json FROM steps WHERE task_id = 'orchestrator' ORDER BY attempt, n"
            )
        ]
    assert [("refused" in d) for d in details] == [True, True, True, False, False]


async def test_an_orchestrator_that_never_answers_well_fails_with_a_clear_error(
    tmp_path: Path,
) -> None:
    plan = orchestrator_plan("Explain Kafka", max_steps=3)
    summary, _, _ = await run_plan(tmp_path, plan, Scripted(lambda task, prompt: "nonsense"))
    assert summary["status"] == "failed"
    with sqlite3.connect(tmp_path / "s.db") as conn:
        error, kind = conn.execute(
            "SELECT error, error_kind FROM tasks WHERE task_id = 'orchestrator'"
        ).fetchone()
        attempts = conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
    assert "used its 3 steps without a final answer" in error and "not JSON" in error
    assert kind == "TaskError" and attempts == 1  # not retried: the answer, not the call, failed


async def test_the_last_step_can_only_be_final(tmp_path: Path) -> None:
    spawn_one = turn(("Agent", {"description": "d", "prompt": "Summarise the history of Kafka"}))
    plan = orchestrator_plan("Explain Kafka", max_steps=2)
    summary, stored, _ = await run_plan(tmp_path, plan, Scripted(lambda t, p: spawn_one))
    assert summary["status"] == "failed"
    assert len(stored.tasks) == 2  # the second spawn, on the last step, was refused
    with sqlite3.connect(tmp_path / "s.db") as conn:
        (error,) = conn.execute("SELECT error FROM tasks WHERE task_id = 'orchestrator'").fetchone()
    assert "used its 2 steps" in error and "this is your last step" in error


async def test_orchestrators_nest_to_the_configured_depth(tmp_path: Path) -> None:
    def script(task: str, prompt: str) -> str:
        if "## Turn 1 results" in prompt:
            return turn(("final", {"answer": f"{task} done"}))
        if task == "orchestrator":
            nested = {
                "description": "sub",
                "prompt": "Split the Kafka study further",
                "subagent_type": "orchestrator",
            }
            return turn(("Agent", nested))
        items = {
            "prompt_template": "Study {{item}} of Kafka",
            "items": ["a", "b"],
            "subagent_type": "llm",
        }
        if "nest at most" in prompt:
            return turn(("AgentSwarm", items))
        return turn(("AgentSwarm", {**items, "subagent_type": "orchestrator"}))

    summary, stored, metrics = await run_plan(
        tmp_path, orchestrator_plan("Study Kafka"), Scripted(script)
    )
    assert summary["status"] == "succeeded", summary
    assert [(t.id, t.kind) for t in stored.tasks] == [
        ("orchestrator", "orchestrator"),
        ("orchestrator:s1-1", "orchestrator"),
        ("orchestrator:s1-1:s1-1", "llm"),
        ("orchestrator:s1-1:s1-2", "llm"),
    ]
    with sqlite3.connect(tmp_path / "s.db") as conn:
        deps = {t: json.loads(d) for t, d in conn.execute("SELECT task_id, deps_json FROM tasks")}
    assert deps["orchestrator"] == ["orchestrator:s1-1"]
    assert deps["orchestrator:s1-1"] == ["orchestrator:s1-1:s1-1", "orchestrator:s1-1:s1-2"]
    inner = stored.task("orchestrator:s1-1").config["history"][0]
    assert inner["steps"] == 2  # the third level was refused once, then llm sub-agents
    # nested critical steps: root 2 + (inner 3 + slowest llm 1)
    assert metrics.steps_critical == 2 + 3 + 1


@dataclass
class Failing(Scripted):
    """Sub-agents whose prompt says ``[boom]`` fail for good."""

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if "[boom]" in request.prompt and request.json_schema is None:
            raise ProviderError("the model refused: [boom]", retryable=False)
        return await super().complete(request)


async def test_a_failed_sub_agent_comes_back_as_a_failure_to_an_orchestrator_holding_no_slot(
    tmp_path: Path,
) -> None:
    prompts: list[str] = []

    def script(task: str, prompt: str) -> str:
        prompts.append(prompt)
        if "## Turn 1 results" in prompt:
            return turn(("final", {"answer": "one of two answered"}))
        items = {"prompt_template": "Study {{item}} of Kafka", "items": ["a", "b [boom]"]}
        return turn(("AgentSwarm", {**items, "subagent_type": "llm"}))

    plan = orchestrator_plan("Study Kafka").model_copy(
        update={"budget": RunBudget(max_concurrency=1)}
    )
    summary, _, _ = await run_plan(tmp_path, plan, Failing(script))
    assert summary["status"] == "failed"  # a sub-agent failed, the orchestrator did not
    with sqlite3.connect(tmp_path / "s.db") as conn:
        status = dict(conn.execute("SELECT task_id, status FROM tasks"))
        outcomes = conn.execute(
            "SELECT status FROM attempts WHERE task_id = 'orchestrator' ORDER BY attempt"
        ).fetchall()
        waited = conn.execute(
            "SELECT data_json FROM events WHERE type = 'task.waiting' AND task_id = 'orchestrator'"
        ).fetchall()
    assert status == {
        "orchestrator": "succeeded",
        "orchestrator:s1-1": "succeeded",
        "orchestrator:s1-2": "failed",
    }
    assert [o for (o,) in outcomes] == ["suspended", "succeeded"]
    (data,) = [json.loads(d) for (d,) in waited]
    assert data["reason"] == "spawn" and data["on"] == ["orchestrator:s1-1", "orchestrator:s1-2"]
    assert "### orchestrator:s1-2 (swarm: b [boom]): FAILED" in prompts[1]
    assert "the model refused: [boom]" in prompts[1]


@dataclass
class Slow(Scripted):
    """Sub-agents whose prompt says ``[slow]`` take half a second."""

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if "[slow]" in request.prompt and request.json_schema is None:
            await anyio.sleep(0.5)
        return await super().complete(request)


async def test_background_sub_agents_are_not_waited_for_until_final(tmp_path: Path) -> None:
    prompts: list[str] = []

    def script(task: str, prompt: str) -> str:
        prompts.append(prompt)
        if len(prompts) == 1:
            fore = {
                "description": "quick",
                "prompt": "Name one Kafka feature",
                "subagent_type": "llm",
            }
            back = {
                "description": "slow",
                "prompt": "Survey Kafka's history [slow]",
                "subagent_type": "llm",
                "run_in_background": True,
            }
            return turn(("Agent", fore), ("Agent", back))
        return turn(("final", {"answer": f"answered after {len(prompts)} turns"}))

    summary, stored, _ = await run_plan(tmp_path, orchestrator_plan("Study Kafka"), Slow(script))
    assert summary["status"] == "succeeded", summary
    assert "### orchestrator:s1-1 (quick): succeeded" in prompts[1]
    assert "### orchestrator:s1-2 (slow): still running in the background" in prompts[1]
    assert "### orchestrator:s1-2 (slow): succeeded" in prompts[2]
    assert "final waited for the sub-agents still running" in prompts[2]
    history = stored.task("orchestrator").config["history"]
    assert history[0]["background"] == ["orchestrator:s1-2"]
    assert history[1]["deferred_final"] is True and history[1]["children"] == []
    with sqlite3.connect(tmp_path / "s.db") as conn:
        (result,) = conn.execute(
            "SELECT result FROM tasks WHERE task_id = 'orchestrator'"
        ).fetchone()
        waits = [
            json.loads(d)["on"]
            for (d,) in conn.execute(
                "SELECT data_json FROM events WHERE type = 'task.waiting' ORDER BY id"
            )
        ]
        (deps,) = conn.execute(
            "SELECT deps_json FROM tasks WHERE task_id = 'orchestrator'"
        ).fetchone()
    assert result == "answered after 3 turns"
    assert json.loads(deps) == ["orchestrator:s1-1", "orchestrator:s1-2"]
    assert waits == [["orchestrator:s1-1"], ["orchestrator:s1-2"]]


def test_both_modes_in_the_sync_api(tmp_path: Path) -> None:
    from swarm.api import Swarm

    swarm = Swarm(tmp_path / "s.db", artifacts_dir=tmp_path / "runs")
    orchestrated = swarm.submit_sync(GOAL, mode="orchestrate", run_id="o")
    planned = swarm.submit_sync(GOAL, run_id="p")
    assert orchestrated.succeeded and planned.succeeded
    assert orchestrated.metrics is not None and orchestrated.metrics["stages"]
    assert planned.metrics is not None and not planned.metrics["stages"]


async def test_a_turn_recorded_without_its_wait_waits_again_without_asking(
    tmp_path: Path,
) -> None:
    """As after a crash between the turn's record and its wait's: the stored plan already has
    the sub-agents and the turn, the orchestrator is pending; it waits, and asks only after."""
    prompts: list[str] = []
    recorded = {
        "thought": "t",
        "calls": [{"tool": "Agent", "args": {"description": "d", "prompt": PROMPT}}],
        "children": ["orchestrator:s1-1"],
        "waits_on": ["orchestrator:s1-1"],
        "steps": 1,
    }
    root = orchestrator_plan("Explain Kafka").tasks[0]
    plan = Plan.model_validate(
        {
            "goal": "g",
            "tasks": [
                root.model_copy(update={"config": {"history": [recorded]}}).model_dump(),
                {"id": "orchestrator:s1-1", "kind": "llm", "prompt": PROMPT},
            ],
        }
    )

    def script(task: str, prompt: str) -> str:
        prompts.append(prompt)
        return turn(("final", {"answer": "done"}))

    summary, _, _ = await run_plan(tmp_path, plan, Scripted(script))
    assert summary["status"] == "succeeded"
    assert len(prompts) == 1 and "### orchestrator:s1-1: succeeded" in prompts[0]

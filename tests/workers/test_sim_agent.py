"""The sim provider's agent, and the agents example run offline end to end."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from swarm.plan import Plan
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from swarm.validation import validate_file
from tests.workers.conftest import make_ctx
from workers.agent import AgentWorker

pytestmark = pytest.mark.anyio
EXAMPLE = Path(__file__).parents[2] / "examples" / "agents-research.json"


async def test_the_sim_plays_an_agent_that_uses_every_tool(tmp_path: Path) -> None:
    spec = {"kind": "agent", "prompt": "Estimate the market.\nMore detail."}
    ctx = make_ctx(tmp_path, spec, SimProvider(), inputs={"prior": "earlier findings"})
    result = await AgentWorker().run(ctx)
    tools = [s.name for s in ctx.steps if s.kind == "tool"]
    assert tools == ["python", "write_file", "list_files", "read_result"]
    assert result.startswith("[simulated] Estimate the market.")
    assert '"estimate":' in result  # it quotes what its python step computed
    assert "earlier findings" in str(ctx.steps[-2].detail)
    again = make_ctx(tmp_path / "again", spec, SimProvider(), inputs={"prior": "earlier findings"})
    assert await AgentWorker().run(again) == result


@pytest.mark.parametrize("wanted", [9, 10, 21, 99])
async def test_the_sim_agents_routine_takes_the_steps_it_is_given(
    tmp_path: Path, wanted: int
) -> None:
    """A benchmark's work model sets each agent's routine length (odd: a finding is noted and
    read back, two steps each), the same for every attempt of the task."""
    spec = {"kind": "agent", "prompt": "Estimate the market."}
    lengths: list[str] = []

    def steps(task: str) -> int:
        lengths.append(task)
        return wanted

    ctx = make_ctx(tmp_path, spec, SimProvider(agent_steps=steps), allowance=100)
    result = await AgentWorker().run(ctx)
    assert len(ctx.steps) == wanted - (wanted - 9) % 2 and set(lengths) == {"t"}
    assert result.startswith("[simulated] Estimate the market.")
    tools = [s.name for s in ctx.steps if s.kind == "tool"]
    assert tools[:3] == ["python", "write_file", "list_files"] and tools[-1] == "read_file"
    plain = make_ctx(tmp_path / "plain", spec, SimProvider(), allowance=100)
    await AgentWorker().run(plain)
    assert len(plain.steps) == 9  # ordinary runs: the routine as it was


async def test_the_sim_agent_answers_a_final_step_and_a_schema(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    spec = {"kind": "agent", "prompt": "Count.", "output_schema": schema}
    ctx = make_ctx(tmp_path, spec, SimProvider(), allowance=2)
    assert set(json.loads(await AgentWorker().run(ctx))) == {"n"}
    assert len(ctx.steps) == 1


async def run_example(tmp_path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    plan = validate_file(EXAMPLE)
    store = await Store.open(tmp_path / "s.db")
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        summary = await runs.execute(store, plan, SimProvider(), options, run_id="r")
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        results = dict(conn.execute("SELECT task_id, result FROM tasks").fetchall())
    return summary, results


async def test_the_agents_example_runs_offline(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    summary, results = await run_example(tmp_path / "one")
    assert summary["status"] == "succeeded" and summary["simulated"]
    assert summary["counts"]["succeeded"] == len(
        Plan.model_validate_json(EXAMPLE.read_text()).tasks
    )
    compare = json.loads(results["compare"])
    assert set(compare["regions"]) == {"europe", "north-america", "asia-pacific"}
    assert compare["best_payback"] == "6000/1200"
    assert json.loads(results["recommendation"])["region"] in compare["regions"]
    with sqlite3.connect(tmp_path / "one" / "s.db") as conn:
        used = {
            name for (name,) in conn.execute("SELECT DISTINCT name FROM steps WHERE kind='tool'")
        }
    assert {"python", "write_file", "list_files", "read_file", "code"} <= used
    _, again = await run_example(tmp_path / "two")
    assert again == results  # deterministic, so a resumed run would agree

"""The "Orchestrator stages" dashboard and its canned query, served by Datasette and drawn by
headless Chromium over a real orchestrator-mode run: per stage, the orchestrator's steps and
the slowest sub-agent's, the numbers the run's stored critical steps add up."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import anyio
import pytest

from swarm.orchestrate import orchestrator_plan
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.inspect.browser import Browser
from tests.inspect.test_dashboard import _load, serving

pytest.importorskip("datasette_dashboards", reason="needs the `dashboard` extra")

GOAL = "Compare message queues\n- Kafka\n- RabbitMQ\n- NATS"


def _orchestrated(db: Path, artifacts: Path) -> dict[str, object]:
    async def main() -> dict[str, object]:
        store = await Store.open(db)
        try:
            options = runs.RunOptions(artifacts_dir=str(artifacts))
            plan = orchestrator_plan(GOAL)
            return await runs.execute(store, plan, SimProvider(), options, run_id="o")
        finally:
            await store.close()

    return anyio.run(main)


def test_the_stage_chart_shows_each_stage_and_its_slowest_sub_agent(
    browser: Browser, tmp_path: Path
) -> None:
    db = tmp_path / "o.db"
    summary = _orchestrated(db, tmp_path / "runs")
    metrics = summary["metrics"]
    assert isinstance(metrics, dict)
    with serving(db, tmp_path / "stderr.log") as url:
        state = _load(browser, f"{url}-/dashboards/stages", tmp_path / "stages.png")
        query = f"{url}swarm/orchestrator_stages.json?run_id=o&_shape=array"
        with urllib.request.urlopen(query, timeout=10) as reply:
            canned = json.loads(reply.read())
    stored = [(s["stage"], s["slowest"], s["slowest_steps"]) for s in metrics["stages"]]
    assert [(r["stage"], r["slowest"], r["slowest_steps"]) for r in canned] == stored
    assert [r["own_steps"] for r in canned] == [1, 1]  # one model step a spawning turn
    assert [r["subagents"] for r in canned] == [3, 1] and all(r["ended"] for r in canned)
    assert state["stages"]["text"] == "2"
    assert state["critical"]["text"] == str(metrics["steps_critical"])
    assert state["chart"]["marks"] == 4  # two bars a stage
    assert state["chart"]["yTicks"] == ["orchestrator stage 1", "orchestrator stage 2"]
    assert state["list"]["rows"] == 2 and "orchestrator:s2-1" in str(state["list"]["text"])
    # own steps + slowest, plus the final turn's one step: the stored critical steps
    total = sum(r["own_steps"] + r["slowest_steps"] for r in canned) + 1
    assert total == metrics["steps_critical"]

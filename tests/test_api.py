"""The Python API: typed summaries, events, results and artifacts; start/cancel; the settings
execute() takes; checks made before anything is written; sync wrappers (in a running loop too)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from swarm import (
    Artifact,
    ConfigError,
    PlanError,
    PlannerError,
    RunEvent,
    RunInfo,
    RunNotFound,
    RunSummary,
    Swarm,
    SwarmWarning,
    TaskResult,
)
from swarm.errors import StoreError
from swarm.plan import loads_plan
from swarm.providers.base import ModelRequest, ModelResponse
from swarm.store.store import Store

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]
PLAN = {
    "goal": "api",
    "tasks": [
        {"id": "a", "kind": "llm", "prompt": "first"},
        {"id": "b", "kind": "llm", "prompt": "second", "deps": ["a"]},
    ],
}
DOC_PLAN = {
    "goal": "a document",
    "tasks": [
        {"id": "notes", "kind": "llm", "prompt": "Notes on bees."},
        {
            "id": "doc",
            "kind": "document",
            "deps": ["notes"],
            "config": {"title": "Bees", "filename": "bees", "formats": ["md"]},
        },
    ],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def swarm_at(tmp_path: Path, **kwargs: object) -> Swarm:
    return Swarm(tmp_path / "s.db", artifacts_dir=tmp_path / "runs", **kwargs)  # type: ignore[arg-type]


async def test_execute_returns_a_typed_summary_and_typed_events(tmp_path: Path) -> None:
    async with swarm_at(tmp_path) as sw:
        summary = await sw.execute(PLAN, run_id="r")
        events = [e async for e in sw.events("r")]
    assert isinstance(summary, RunSummary) and summary.succeeded
    assert summary.counts["succeeded"] == 2 and summary.simulated
    assert summary.to_dict()["run_id"] == "r" and summary.unpriced_models == ()
    assert all(isinstance(e, RunEvent) for e in events)
    types = [e.type for e in events]
    assert types[0] == "run.created" and types[-1] == "run.finished"
    assert types.count("task.succeeded") == 2


async def test_results_artifacts_and_runs_are_typed(tmp_path: Path) -> None:
    async with swarm_at(tmp_path) as sw:
        await sw.execute(DOC_PLAN, run_id="doc")
        results = await sw.results("doc")
        artifacts = await sw.artifacts("doc")
        listed = await sw.runs()
    assert [r.task_id for r in results] == ["notes", "doc"]
    assert all(isinstance(r, TaskResult) and r.status == "succeeded" for r in results)
    assert results[0].result and results[1].deps == ("notes",)
    assert artifacts and all(isinstance(a, Artifact) for a in artifacts)
    md = next(a for a in artifacts if a.name.endswith(".md"))
    assert md.path == tmp_path / "runs" / "doc" / md.name and md.path.read_text().startswith("#")
    assert md.size == md.path.stat().st_size
    assert [(r.run_id, r.status) for r in listed] == [("doc", "succeeded")]
    assert isinstance(listed[0], RunInfo)


async def test_reading_an_unknown_run_creates_no_database(tmp_path: Path) -> None:
    async with swarm_at(tmp_path) as sw:
        assert await sw.runs() == []
        with pytest.raises(RunNotFound):
            await sw.results("nope")
    assert not (tmp_path / "s.db").exists()


async def test_start_follows_events_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_SIM_LATENCY", "fixed:0.05")
    seen = []
    async with swarm_at(tmp_path) as sw, sw.start(PLAN) as run:
        async for event in run.events():
            seen.append(event.type)
        summary = await run.wait()
    assert summary.status == "succeeded" and summary.run_id == run.run_id
    assert seen[-1] == "run.finished" and "task.started" in seen


async def test_cancel_stops_the_run_promptly_and_it_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_SIM_LATENCY", "fixed:30")
    async with swarm_at(tmp_path) as sw:
        async with sw.start(PLAN, run_id="c") as run:
            async for event in run.events():
                if event.type == "task.started":
                    break
            began = time.monotonic()
            run.cancel()
            summary = await run.wait()
        assert time.monotonic() - began < 5
        assert summary.status == "cancelled" and summary.counts["succeeded"] == 0
    monkeypatch.setenv("SWARM_SIM_LATENCY", "0")
    async with swarm_at(tmp_path) as sw:
        assert (await sw.resume("c")).status == "succeeded"


async def test_leaving_the_start_block_early_cancels_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_SIM_LATENCY", "fixed:30")
    began = time.monotonic()
    async with swarm_at(tmp_path) as sw:
        async with sw.start(PLAN, run_id="early") as run:
            pass
        assert time.monotonic() - began < 5
        assert run.summary is not None and run.summary.status == "cancelled"
        assert [r.status for r in await sw.runs()] == ["cancelled"]


async def test_the_blocks_own_exception_comes_out_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_SIM_LATENCY", "fixed:30")
    async with swarm_at(tmp_path) as sw:
        with pytest.raises(KeyError, match="mine"):
            async with sw.start(PLAN, run_id="x") as run:
                async for _ in run.events():
                    raise KeyError("mine")
        assert [r.status for r in await sw.runs()] == ["cancelled"]


async def test_a_failing_run_raises_its_own_error_from_the_block(tmp_path: Path) -> None:
    async with swarm_at(tmp_path) as sw:
        await sw.execute(PLAN, run_id="dup")
        with pytest.raises(ConfigError, match="run 'dup' already exists"):
            async with sw.start(PLAN, run_id="dup") as run:
                await run.wait()


async def test_execute_takes_the_settings_the_cli_has(tmp_path: Path) -> None:
    async with swarm_at(tmp_path) as sw:
        summary = await sw.execute(
            PLAN,
            run_id="s",
            concurrency=3,
            max_steps=50,
            max_tokens=100_000,
            max_cost=2.5,
            model="moonshotai/kimi-k2.6",
            reasoning_effort="low",
            fail_fast=True,
        )
        record = await (await sw.store()).load_run("s")
    plan = loads_plan(record.plan_json, source="s")
    assert summary.succeeded
    assert (plan.budget.max_concurrency, plan.budget.max_steps) == (3, 50)
    assert (plan.budget.max_tokens, plan.budget.max_cost_usd) == (100_000, 2.5)
    assert plan.defaults.params.reasoning_effort == "low"
    assert record.config["fail_fast"] is True


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"max_cost": 0}, "must be a positive amount"),
        ({"max_cost": -1.0}, "must be a positive amount"),
        ({"concurrency": 0}, "concurrency=0"),
        ({"run_id": "a b"}, "letters, digits"),
        ({"reasoning_effort": "max"}, "not one of"),
        ({"model": "fake-model", "max_cost": 1.0}, "no price is known for 'fake-model'"),
    ],
)
async def test_bad_settings_are_refused_before_anything_is_written(
    tmp_path: Path, settings: dict[str, object], words: str
) -> None:
    async with swarm_at(tmp_path) as sw:
        with pytest.raises(ConfigError, match=words) as caught:
            await sw.execute(PLAN, **settings)  # type: ignore[arg-type]
    assert "Traceback" not in str(caught.value) and "pydantic" not in str(caught.value)
    assert not (tmp_path / "s.db").exists()


async def test_a_plan_that_cannot_fit_its_budget_is_refused_first(tmp_path: Path) -> None:
    async with swarm_at(tmp_path) as sw:
        with pytest.raises(PlanError, match=r"budget\.max_steps"):
            await sw.execute(PLAN, max_steps=1)
    assert not (tmp_path / "s.db").exists()


async def test_an_unpriced_model_warns_and_is_not_priced_like_k26(tmp_path: Path) -> None:
    async with swarm_at(tmp_path) as sw:
        with pytest.warns(SwarmWarning, match="no price is known for model 'fake-model'"):
            summary = await sw.execute(PLAN, model="fake-model")
        priced = await sw.execute(PLAN, model="fake-model", prices={"fake-model": (1.0, 2.0)})
    assert summary.unpriced_models == ("fake-model",) and summary.cost_usd == 0
    assert summary.tokens_out > 0
    expected = (priced.tokens_in * 1.0 + priced.tokens_out * 2.0) / 1e6
    assert priced.unpriced_models == () and priced.cost_usd == pytest.approx(expected, rel=1e-3)


async def test_an_unwritable_artifacts_folder_is_refused_first(tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("x")
    async with Swarm(tmp_path / "s.db", artifacts_dir=file / "runs") as sw:
        with pytest.raises(ConfigError, match="not a folder"):
            await sw.execute(PLAN)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        async with Swarm(tmp_path / "s.db", artifacts_dir=locked) as sw:
            with pytest.raises(ConfigError, match="not writable"):
                await sw.execute(PLAN)
    assert not (tmp_path / "s.db").exists()


async def test_bad_plan_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    async with swarm_at(tmp_path) as sw:
        with pytest.raises(PlanError):
            await sw.execute({"goal": "x", "tasks": [{"id": "a", "kind": "nope"}]})
    assert not (tmp_path / "s.db").exists()


class Answering:
    """A planner model that always gives the same answer."""

    name = "scripted"
    simulated = True

    def __init__(self, text: str) -> None:
        self.text = text

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse(self.text, 10, 10, 0.0)

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize(
    "answer",
    ['{"goal": "g"}\n{"id": "a", "kind": "nope"}\n{"end": true}\n', "no plan here at all"],
)
async def test_a_planner_without_a_valid_task_writes_nothing(tmp_path: Path, answer: str) -> None:
    async with swarm_at(tmp_path, provider=Answering(answer)) as sw:
        with pytest.raises(PlannerError):
            await sw.submit("g")
    assert not (tmp_path / "s.db").exists()


async def test_api_errors_carry_api_words(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db")
    await store.close()
    async with swarm_at(tmp_path) as sw:
        with pytest.raises(RunNotFound) as caught:
            await sw.resume("nope")
    text = str(caught.value)
    assert "--db" not in text and "SWARM_DB" not in text and "Swarm.runs()" in text
    assert "--db" in caught.value.cli_text()
    with pytest.raises(StoreError) as bad_db:
        async with Swarm(tmp_path / "missing" / "s.db") as sw:
            await sw.execute(PLAN)
    assert "--db" not in str(bad_db.value) and "--db" in bad_db.value.cli_text()


def test_sync_wrappers(tmp_path: Path) -> None:
    sw = swarm_at(tmp_path)
    summary = sw.execute_sync(PLAN, run_id="r")
    assert summary.status == "succeeded"
    assert sw.resume_sync("r").status == "succeeded"
    assert [t.task_id for t in sw.results_sync("r")] == ["a", "b"]
    assert [r.run_id for r in sw.runs_sync()] == ["r"]


async def test_sync_wrappers_work_inside_a_running_event_loop(tmp_path: Path) -> None:
    # What a Jupyter cell does: call the sync API while the notebook's loop is running.
    sw = swarm_at(tmp_path)
    assert sw.execute_sync(PLAN, run_id="nb").status == "succeeded"
    assert sw.artifacts_sync("nb") == []


def test_the_api_example_runs_and_is_the_readme_example(tmp_path: Path) -> None:
    example = (ROOT / "examples" / "api_quickstart.py").read_text()
    block = textwrap.dedent(example.split("# --- README ---\n")[1].rsplit("\n", 1)[0])
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    shown = re.search(r"```python\n(.*?)```", section, re.S)
    assert shown is not None and block.strip() in shown.group(1)  # the README shows it verbatim
    # Slow enough that the cancel lands while the first task runs.
    env = dict(os.environ, SWARM_SIM_LATENCY="fixed:1")
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "api_quickstart.py")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    last = json.loads(out.strip().splitlines()[-1])
    assert last["status"] == "cancelled" and last["resumed"] == "succeeded"
    _ = anyio  # the module is used by the async tests above

"""The driver behind the core's one door: no runtime module changes the scheduler except
through :class:`~swarm.core.machine.Machine`, and the log of real runs (retries, a failure
that skips its branch, a fan-out, an approval decided while the run goes, a budget pause, an
orchestrator) replayed on a fresh core gives the same commands and the same final state."""

from __future__ import annotations

import ast
import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

import swarm.runtime
from swarm.core.machine import Decided, replay
from swarm.core.scheduler import Scheduler
from swarm.errors import ProviderError
from swarm.orchestrate import orchestrator_plan
from swarm.plan import Plan
from swarm.providers.base import ModelRequest, Provider
from swarm.providers.sim import Latency, SimProvider
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.approvals import ApprovalStore
from swarm.store.store import Store
from tests.fakes import ScriptedProvider

pytestmark = pytest.mark.anyio

MUTATING = frozenset(
    {
        "restore",
        "start",
        "hold",
        "release",
        "add_task",
        "expand",
        "dispatch",
        "pause",
        "on_success",
        "on_failure",
        "suspend",
        "wake",
        "fail_waiting",
        "on_paused",
        "on_cancelled",
        "replace",
        "halt",
    }
)
"""The scheduler's methods that change it."""
SET_UP = {("run.py", "restore"), ("run.py", "start")}
"""Building the core before its driver exists (a new run's start, a resumed run's state)."""


def _receiver(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def direct_changes(source: str) -> list[tuple[int, str]]:
    """Calls of a mutating scheduler method on something named ``core`` or ``scheduler``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATING
            and _receiver(node.func.value) in ("core", "scheduler")
        ):
            found.append((node.lineno, node.func.attr))
    return found


def test_the_check_finds_a_direct_change() -> None:
    assert direct_changes("self.core.on_success('a', 1, 0)\nx.core.status('a')") == [
        (1, "on_success")
    ]
    assert direct_changes("scheduler.halt()\nself.machine.core.wake('a')") == [
        (1, "halt"),
        (2, "wake"),
    ]


def test_the_runtime_changes_the_core_only_through_its_door() -> None:
    root = Path(swarm.runtime.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        for line, method in direct_changes(path.read_text()):
            if (path.name, method) not in SET_UP:
                offenders.append(f"{path.name}:{line} calls {method}()")
    assert offenders == [], "hand the core an event through RunDriver._decide instead"


# -- replaying real runs ---------------------------------------------------------------------


def snapshot(core: Scheduler, ids: list[str]) -> tuple[Any, ...]:
    return (
        tuple((t, core.status(t), core.attempt(t), core.info(t).deps) for t in ids),
        core.counts(),
        core.pool.spent,
        core.pool.reserved,
        core.running,
        core.paused,
        core.halted,
        core.waiting(),
    )


class Recorder:
    """Keeps each session's driver and its core as it was when the driver took it."""

    def __init__(self) -> None:
        self.sessions: list[tuple[RunDriver, Scheduler]] = []

    def hooks(self, **kwargs: Any) -> runs.Hooks:
        return runs.Hooks(on_start=self._started, **kwargs)

    def _started(self, driver: RunDriver) -> None:
        self.sessions.append((driver, copy.deepcopy(driver.core)))

    def assert_replays(self) -> None:
        assert self.sessions
        for driver, fresh in self.sessions:
            machine = driver.machine
            again, commands = replay(fresh, machine.log, revisions=machine.revisions)
            assert commands == machine.given
            ids = sorted(driver.specs)  # every task, the added ones too
            assert snapshot(again.core, ids) == snapshot(driver.core, ids)


async def execute(
    tmp_path: Path, plan: Plan, provider: Provider, hooks: runs.Hooks
) -> dict[str, Any]:
    store = await Store.open(tmp_path / "s.db")
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        return await runs.execute(store, plan, provider, options, run_id="r", hooks=hooks)
    finally:
        await store.close()


MIXED = {
    "goal": "replay",
    "defaults": {"retries": 2},
    "tasks": [
        {"id": "flaky", "kind": "llm", "prompt": "flaky"},
        {"id": "after_flaky", "kind": "llm", "prompt": "after flaky", "deps": ["flaky"]},
        {"id": "broken", "kind": "llm", "prompt": "broken"},
        {"id": "after_broken", "kind": "llm", "prompt": "after broken", "deps": ["broken"]},
        {"id": "topics", "kind": "llm", "prompt": "topics"},
        {
            "id": "each",
            "kind": "map",
            "deps": ["topics"],
            "config": {"over": "topics", "template": {"kind": "llm", "prompt": "about {item}"}},
        },
        {"id": "report", "kind": "llm", "prompt": "report", "deps": ["each"]},
        {"id": "draft", "kind": "llm", "prompt": "draft"},
        {"id": "publish", "kind": "llm", "prompt": "publish", "deps": ["draft"], "approval": True},
        {"id": "announce", "kind": "llm", "prompt": "announce", "deps": ["publish"]},
    ],
}


async def test_a_mixed_run_replays_to_the_same_commands_and_state(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    seen: set[str] = set()

    async def script(request: ModelRequest) -> str:
        await anyio.lowlevel.checkpoint()
        first = request.prompt.splitlines()[0]
        if first == "flaky" and first not in seen:
            seen.add(first)
            raise ProviderError("HTTP 503", retryable=True, status=503)
        if first == "broken":
            raise ProviderError("HTTP 422: bad input", retryable=False, status=422)
        if first == "topics":
            return json.dumps(["alpha", "beta", "gamma"])
        return f"answer to {first}"

    async def approve_when_asked() -> None:
        with anyio.fail_after(20):
            while True:
                try:
                    with sqlite3.connect(db) as conn:
                        asked = conn.execute("SELECT count(*) FROM approvals").fetchone()[0]
                except sqlite3.OperationalError:
                    asked = 0
                if asked:
                    break
                await anyio.sleep(0.05)
        store = await Store.open(db)
        try:
            await ApprovalStore(store).decide("r", "publish", "approved", by="ann", note=None)
        finally:
            await store.close()

    recorder = Recorder()
    out: list[dict[str, Any]] = []

    async def run() -> None:
        plan = Plan.model_validate(MIXED)
        hooks = recorder.hooks(wait_approvals=True)
        out.append(await execute(tmp_path, plan, ScriptedProvider(script), hooks))

    async with anyio.create_task_group() as tg:
        tg.start_soon(approve_when_asked)
        tg.start_soon(run)
    summary = out[0]
    assert summary["status"] == "failed"
    counts = summary["counts"]
    assert (counts["failed"], counts["skipped"]) == (1, 1)
    assert counts["succeeded"] == 11  # 8 of the plan (the map joined) and its 3 children
    [(driver, _)] = recorder.sessions
    assert driver.core.attempt("flaky") == 2
    assert any(isinstance(e, Decided) for events in driver.machine.log for e in events)
    recorder.assert_replays()


async def test_a_budget_pause_replays(tmp_path: Path) -> None:
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": f"task {i} " * 40} for i in range(40)]
    plan = Plan.model_validate(
        {
            "goal": "budget",
            "tasks": tasks,
            "defaults": {"params": {"max_tokens": 256}},
            "budget": {"max_concurrency": 8, "max_tokens": 3_000},
        }
    )
    recorder = Recorder()
    provider = SimProvider(latency=Latency.parse("fixed:0.005"))
    summary = await execute(tmp_path, plan, provider, recorder.hooks())
    assert summary["status"] == "paused" and summary["counts"]["failed"] == 0
    recorder.assert_replays()


async def test_an_orchestrator_run_replays(tmp_path: Path) -> None:
    goal = "Compare message queues for a small team\n- Kafka\n- RabbitMQ\n- NATS"
    recorder = Recorder()
    summary = await execute(tmp_path, orchestrator_plan(goal), SimProvider(), recorder.hooks())
    assert summary["status"] == "succeeded", summary
    assert summary["counts"]["succeeded"] >= 4
    recorder.assert_replays()

"""The live progress display: what it reads from the driver, on a terminal and off one."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from rich.console import Console

from swarm.cli import progress as progress_module
from swarm.cli.progress import Progress, Snapshot, rate_limit_waiting
from swarm.errors import ProviderError
from swarm.plan import Plan
from swarm.providers.base import ModelRequest
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.fakes import ScriptedProvider, plan_data

pytestmark = pytest.mark.anyio


async def slow(request: ModelRequest) -> str:
    await anyio.sleep(0.05)
    return "ok"


def plan(n: int = 24, retries: int = 0) -> Plan:
    tasks: list[dict[str, Any]] = [
        {"id": f"t{i}", "kind": "llm", "prompt": f"task {i}"} for i in range(n)
    ]
    tasks.append({"id": "last", "kind": "llm", "prompt": "last", "deps": ["t0"]})
    budget = {"max_concurrency": 4, "max_tokens": 1_000_000, "max_cost_usd": 5}
    return Plan.model_validate(plan_data(tasks, budget=budget, defaults={"retries": retries}))


async def run_with(
    progress: Progress, db: Path, provider: ScriptedProvider, retries: int = 0
) -> list[Any]:
    """Run a plan with ``progress`` attached; returns what was seen mid-run (on each tick)."""
    seen: list[Any] = []

    def tick() -> None:
        progress.tick()
        if progress.driver is not None and progress.driver.core.counts()["running"]:
            seen.append((progress.snapshot(), progress.line(), _text(progress)))

    store = await Store.open(db)
    try:
        hooks = runs.Hooks(on_start=progress.attach, on_tick=tick)
        await runs.execute(
            store,
            plan(retries=retries),
            provider,
            runs.RunOptions(artifacts_dir=str(db.parent)),
            hooks=hooks,
        )
    finally:
        progress.stop()
        await store.close()
    return seen


def _text(progress: Progress) -> str:
    console = Console(file=io.StringIO(), width=160, force_terminal=False)
    console.print(progress.render())
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


async def test_off_a_terminal_it_prints_plain_lines_at_a_steady_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "PLAIN_INTERVAL_S", 0.2)
    out = io.StringIO()
    progress = Progress(Console(file=out, force_terminal=False), simulated=True)
    await run_with(progress, tmp_path / "s.db", ScriptedProvider(slow))
    lines = out.getvalue().splitlines()
    assert "\x1b[" not in out.getvalue()
    assert all(line.startswith("[simulated] ") and " done: " in line for line in lines)
    assert 2 <= len(lines) <= 10  # ~0.35 s of run at one line per 0.2 s, plus the last line
    assert lines[-1].startswith("[simulated] 25/25 done: 25 ok")


async def test_on_a_terminal_it_shows_the_whole_state(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    progress = Progress(console, simulated=False)
    seen = await run_with(progress, tmp_path / "s.db", ScriptedProvider(slow))
    assert seen, "never saw a running task"
    snap, line, text = seen[len(seen) // 2]
    assert isinstance(snap, Snapshot)
    assert snap.counts["running"] == len(snap.running) <= 4
    assert snap.by_kind["llm"][2] == 25 and snap.steps_held >= snap.counts["running"]
    assert snap.max_tokens == 1_000_000 and snap.max_cost_usd == 5
    for needle in ("progress", "ETA", "tasks", "kinds", "llm", "running", "steps", "tokens"):
        assert needle in text
    assert "of $5.00" in text and "of 1,000,000" in text
    assert "rate limit" not in text and "waiting on the rate limit" not in line
    assert "\x1b[" in out.getvalue()  # redrawn in place
    assert "25/25 (100%)" in out.getvalue()  # the final frame


async def test_it_says_when_the_swarm_waits_on_the_rate_limit(tmp_path: Path) -> None:
    provider = ScriptedProvider(slow)
    provider.governor = SimpleNamespace(waiting=3)  # type: ignore[attr-defined]
    progress = Progress(Console(file=io.StringIO(), force_terminal=False), simulated=True)
    seen = await run_with(progress, tmp_path / "s.db", provider)
    _, line, text = seen[0]
    assert line.endswith("; 3 waiting on the rate limit")
    assert "3 calls waiting on the rate limit" in text


def test_rate_limit_hook_is_optional() -> None:
    assert rate_limit_waiting(object()) == 0
    assert rate_limit_waiting(SimpleNamespace(governor=SimpleNamespace())) == 0
    assert rate_limit_waiting(SimpleNamespace(governor=SimpleNamespace(waiting=True))) == 1
    assert rate_limit_waiting(SimpleNamespace(governor=SimpleNamespace(waiting=2))) == 2
    assert rate_limit_waiting(SimpleNamespace(governor=SimpleNamespace(waiting="x"))) == 0


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out), simulated=True, quiet=True)
    progress.tick()
    progress.stop()
    assert out.getvalue() == ""


async def flaky_once(request: ModelRequest) -> str:
    _, task, attempt, _ = request.call_key.split("/")
    await anyio.sleep(0.01)
    if task in ("t1", "t2") and attempt == "1":
        raise ProviderError("upstream hiccup (HTTP 503)", retryable=True, status=503)
    return "ok"


async def test_it_shows_retries_attempts_against_tasks(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out, force_terminal=False), simulated=True)
    seen = await run_with(progress, tmp_path / "s.db", ScriptedProvider(flaky_once), retries=2)
    last = out.getvalue().splitlines()[-1]
    assert "25/25 done: 25 ok, 0 failed" in last
    assert "27 attempts for 25 tasks (0 retrying)" in last
    retrying = [snap.retrying for snap, _, _ in seen]
    assert max(retrying) <= 2 and all(snap.attempts >= snap.tried for snap, _, _ in seen)
    final = progress.snapshot()
    assert (final.attempts, final.tried, final.retrying) == (27, 25, 0)
    assert "27 attempts for 25 tasks" in _text(progress)


async def test_without_retries_it_does_not_mention_attempts(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out, force_terminal=False), simulated=True)
    await run_with(progress, tmp_path / "s.db", ScriptedProvider(slow))
    assert "attempts" not in out.getvalue()


async def test_a_cancelled_run_ends_with_one_header_and_no_stale_eta(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    progress = Progress(console, simulated=False)

    def tick() -> None:
        progress.tick()
        driver = progress.driver
        if driver is not None and driver.core.counts()["succeeded"] >= 6:
            driver.cancel()  # what Ctrl-C does (the driver's signal handler calls it)

    store = await Store.open(tmp_path / "c.db")
    try:
        hooks = runs.Hooks(on_start=progress.attach, on_tick=tick)
        options = runs.RunOptions(artifacts_dir=str(tmp_path))
        summary = await runs.execute(store, plan(), ScriptedProvider(slow), options, hooks=hooks)
    finally:
        progress.stop()
        progress.stop()  # as a second Ctrl-C's clean-up would: nothing more is printed
        await store.close()
    assert summary["status"] == "cancelled"
    assert progress.driver is not None
    header = f"run {progress.driver.run_id}"
    # The live frames are erased at the end (rich erases each line with ESC [2K); what stays
    # in the scrollback is the one final frame after the last erase.
    final = out.getvalue().rsplit("\x1b[2K", 1)[-1]
    assert final.count(header) == 1, final
    assert "ETA -" in final and "ETA 0s" not in final
    assert final.count("ETA") == 1


async def test_it_says_which_tasks_wait_for_a_decision(tmp_path: Path) -> None:
    tasks = [
        {"id": "a", "kind": "llm", "prompt": "a"},
        {"id": "gate", "kind": "llm", "prompt": "g", "approval": True},
    ]
    progress = Progress(Console(file=io.StringIO(), force_terminal=False), simulated=True)
    store = await Store.open(tmp_path / "s.db")
    try:
        hooks = runs.Hooks(on_start=progress.attach)
        opts = runs.RunOptions(artifacts_dir=str(tmp_path))
        summary = await runs.execute(
            store, Plan.model_validate(plan_data(tasks)), ScriptedProvider(), opts, hooks=hooks
        )
    finally:
        progress.stop()
        await store.close()
    assert summary["status"] == "waiting"
    assert progress.line().endswith("; 1 waiting for a decision")
    assert "1 (gate): swarm approvals" in _text(progress)

"""The executor seam: an attempt as a value (spec in, outcome out), errors that cross
processes as themselves, the local executor unchanged, and the checks of the ray settings."""

from __future__ import annotations

import json
import pickle
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from swarm import errors
from swarm.api_settings import executor_settings
from swarm.core.budget import Budget, Shortfall
from swarm.errors import AttemptLost, ConfigError, TaskError, WorkerCrashed
from swarm.plan import Plan
from swarm.providers.base import ModelRequest
from swarm.runtime import ray_executor as rx
from swarm.runtime import run as runs
from swarm.runtime.budget_gate import BudgetGate
from swarm.runtime.executor import AttemptOutcome, AttemptSpec, LocalExecutor, run_spec
from swarm.runtime.model_channel import CallAnswer, serve_call
from swarm.store.ops import StepRecord
from swarm.store.store import Store
from tests.fakes import ScriptedProvider, plan_data
from tests.workers.conftest import make_ctx
from workers.base import TaskContext
from workers.code import CodeWorker
from workers.llm import LlmWorker

pytestmark = pytest.mark.anyio

SQUARE = "import json, sys\nd = json.load(sys.stdin)\nprint(json.dumps(d['a'] ** 2))"


def _errors() -> list[errors.SwarmError]:
    timeout = errors.TaskTimeout(2.5)
    timeout.task_id, timeout.attempt = "t", 3
    return [
        timeout,
        errors.CodeTimeout("code failed: wall clock", timeout_s=4.0),
        errors.CodeFailed("exit 1", retryable=False, hint="fix config.code"),
        errors.RateLimited("slow down", retry_after_s=7.0),
        errors.ProviderError("401", retryable=False, status=401, ends_run=True),
        errors.BudgetExhausted(Shortfall("tokens", 10, 5, 20)),
        errors.AttemptLost("node died"),
        errors.WorkerCrashed("bug"),
        errors.PlanError("plan.json", [errors.Problem("task 'a'", "kind", "unknown")]),
        errors.RunTakenOver("r", 1, 2),
        errors.StaleAttempt("t", 1, 2),
    ]


@pytest.mark.parametrize("error", _errors(), ids=lambda e: type(e).__name__)
def test_every_error_pickles_as_itself(error: errors.SwarmError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert vars(back) == vars(error)
    if isinstance(error, TaskError):
        assert isinstance(back, TaskError)
        assert (back.retryable, back.kind) == (error.retryable, error.kind)


def test_a_lost_attempt_is_retryable() -> None:
    lost = AttemptLost("lost on the Ray cluster: NodeDiedError")
    assert lost.retryable and lost.kind == "AttemptLost"


async def test_an_attempt_runs_from_its_spec_alone_and_its_records_come_back(
    tmp_path: Path,
) -> None:
    ctx = make_ctx(tmp_path, {"kind": "code", "config": {"code": SQUARE}}, inputs={"a": "7"})
    spec = pickle.loads(pickle.dumps(AttemptSpec.of(ctx)))  # what a cluster receives
    assert spec.run_dir == str((tmp_path / "run").absolute())
    outcome = pickle.loads(pickle.dumps(await run_spec(spec, CodeWorker())))
    assert outcome.result == "49" and outcome.error is None
    assert [s.name for s in outcome.steps] == ["code"]
    assert outcome.apply(ctx) == "49"
    assert [s.name for s in ctx.steps] == ["code"]  # merged into the driver's context


async def test_a_task_error_travels_in_the_outcome_and_is_raised_by_apply(
    tmp_path: Path,
) -> None:
    ctx = make_ctx(tmp_path, {"kind": "code", "config": {"code": "1/0"}})
    outcome = await run_spec(AttemptSpec.of(ctx), CodeWorker())
    assert outcome.result is None and isinstance(outcome.error, errors.CodeFailed)
    assert len(outcome.steps) == 1
    with pytest.raises(errors.CodeFailed, match="ZeroDivisionError"):
        outcome.apply(ctx)
    assert len(ctx.steps) == 1  # the failed attempt's step is recorded too


async def test_a_detached_attempt_refuses_model_calls(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"kind": "llm", "prompt": "hi"})
    outcome = await run_spec(AttemptSpec.of(ctx), LlmWorker())
    assert isinstance(outcome.error, WorkerCrashed)
    assert "local executor" in outcome.error.message


async def test_a_worker_bug_is_a_crash_in_the_outcome(tmp_path: Path) -> None:
    class Buggy(CodeWorker):
        async def run(self, ctx: Any) -> str:
            raise KeyError("oops")

    outcome = await run_spec(AttemptSpec.of(make_ctx(tmp_path, {"kind": "code"})), Buggy())
    assert isinstance(outcome.error, WorkerCrashed) and "KeyError" in str(outcome.error)


async def test_the_local_executor_runs_the_worker_on_the_live_context(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"kind": "code", "config": {"code": SQUARE}}, inputs={"a": "3"})
    assert await LocalExecutor().run(ctx, CodeWorker()) == "9"
    assert len(ctx.steps) == 1


def test_an_outcome_without_result_or_error_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        AttemptOutcome(result=None, error=None).apply(make_ctx(Path("/tmp"), {"kind": "code"}))


async def test_a_run_records_its_executor_and_resume_reads_it_back(tmp_path: Path) -> None:
    tasks = [
        {"id": "a", "kind": "code", "config": {"code": "print(5)"}},
        {"id": "b", "kind": "code", "deps": ["a"], "config": {"code": SQUARE}},
    ]
    store = await Store.open(tmp_path / "s.db")
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        plan = Plan.model_validate(plan_data(tasks))
        summary = await runs.execute(store, plan, ScriptedProvider(), options, run_id="r")
    finally:
        await store.close()
    assert summary["status"] == "succeeded"
    with sqlite3.connect(tmp_path / "s.db") as conn:
        (result,) = conn.execute("SELECT result FROM tasks WHERE task_id = 'b'").fetchone()
        (config,) = conn.execute("SELECT config_json FROM runs").fetchone()
    assert result == "25"
    back = runs.RunOptions.from_config(json.loads(config))
    assert (back.executor, back.ray_kinds) == ("local", ("code",))
    ray = runs.RunOptions(executor="ray", ray_address="h:1", ray_kinds=("code",))
    assert runs.RunOptions.from_config(ray.to_config()) == ray


def test_executor_settings_default_to_local() -> None:
    assert executor_settings({}) == ("local", None, ("code",))


def test_an_unknown_executor_is_refused() -> None:
    with pytest.raises(ConfigError, match="'dask' is not one of local, ray"):
        executor_settings({"executor": "dask"})


@pytest.mark.parametrize("kinds", [["map"], ["code", "document"], [" "]])
def test_model_bound_kinds_are_refused_on_the_cluster(kinds: list[str]) -> None:
    with pytest.raises(ConfigError, match="--ray-kinds"):
        rx.check_kinds(kinds)


def test_without_ray_installed_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rx, "ray_installed", lambda: False)
    with pytest.raises(ConfigError) as info:
        executor_settings({"executor": "ray"})
    assert "pip install 'swarm-harness[ray]'" in str(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("address", ["nohost", "host:port", ":80"])
def test_a_malformed_address_is_refused(address: str) -> None:
    with pytest.raises(ConfigError, match="is not host:port"):
        rx.check_address(address)


def test_an_address_that_does_not_answer_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="does not answer"):
        rx.check_address(f"127.0.0.1:{_closed_port()}", timeout_s=1.0)


def test_an_answering_address_passes_the_precheck() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        rx.check_address(f"ray://127.0.0.1:{s.getsockname()[1]}")


class Loopback:
    """A channel that serves each call on a driver-side context at once, as the driver does
    for an attempt on the cluster (the calls and answers pickled as they would travel)."""

    def __init__(self, driver_ctx: TaskContext) -> None:
        self.ctx = driver_ctx

    async def call(self, request: ModelRequest, steps: list[StepRecord]) -> CallAnswer:
        request, steps = pickle.loads(pickle.dumps((request, steps)))
        answer = await serve_call(self.ctx, request, steps)
        back: CallAnswer = pickle.loads(pickle.dumps(answer))
        return back


async def test_model_calls_of_a_detached_attempt_are_made_on_the_driver_s_context(
    tmp_path: Path,
) -> None:
    spec = {"kind": "llm", "prompt": "hello"}
    local = make_ctx(tmp_path / "l", spec)
    expected = await LlmWorker().run(local)
    driver_ctx = make_ctx(tmp_path / "d", spec)
    outcome = await run_spec(AttemptSpec.of(driver_ctx), LlmWorker(), Loopback(driver_ctx))
    assert outcome.result == expected
    assert outcome.apply(driver_ctx) == expected
    assert [(s.n, s.kind, s.tokens_in) for s in driver_ctx.steps] == [
        (s.n, s.kind, s.tokens_in) for s in local.steps
    ]
    assert (driver_ctx.tokens_in, driver_ctx.tokens_out) == (local.tokens_in, local.tokens_out)
    assert driver_ctx.budget.budget.spent_tokens == local.tokens_in + local.tokens_out


async def test_a_call_the_driver_s_budget_refuses_travels_back_as_its_error(
    tmp_path: Path,
) -> None:
    driver_ctx = make_ctx(tmp_path, {"kind": "llm", "prompt": "hello"})
    driver_ctx.budget = BudgetGate(Budget(5, None))  # less than any call's worst case
    outcome = await run_spec(AttemptSpec.of(driver_ctx), LlmWorker(), Loopback(driver_ctx))
    assert isinstance(outcome.error, errors.BudgetExhausted)  # the run pauses, resumable
    assert outcome.steps == []  # refused before any call was made

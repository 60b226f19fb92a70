"""Running one aggregator outside a run: a task, its dependencies' results, a provider, and a
temporary run folder; plus headless Chromium for the site tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.core.budget import Budget
from swarm.errors import PlanError
from swarm.plan import ModelParams, TaskSpec
from swarm.providers.base import Provider
from swarm.providers.pricing import Price
from swarm.providers.sim import SimProvider
from swarm.runtime.budget_gate import BudgetGate
from swarm.validation import validate_data
from tests.cli.conftest import cli  # noqa: F401 - the in-process CLI fixture
from tests.inspect.browser import Browser, chromium, find_chromium
from workers.base import TaskContext
from workers.registry import get_worker


def context(
    run_dir: Path,
    kind: str,
    inputs: dict[str, str],
    config: dict[str, Any] | None = None,
    *,
    task_id: str = "agg",
    prompt: str = "",
    provider: Provider | None = None,
    allowance: int = 4,
) -> TaskContext:
    spec = TaskSpec(id=task_id, kind=kind, deps=list(inputs), prompt=prompt, config=config or {})
    return TaskContext(
        run_id="r",
        spec=spec,
        attempt=1,
        allowance=allowance,
        model="sim",
        params=ModelParams(),
        inputs=inputs,
        provider=provider or SimProvider(),
        budget=BudgetGate(Budget()),
        price=Price(0.0, 0.0),
        run_dir=run_dir,
    )


def unlabelled() -> SimProvider:
    """The sim's answers, but not flagged simulated: what a real provider's artifacts look
    like (no simulated notices), for the tests of a format's structure."""
    return SimProvider(simulated=False)


def image_result(run_dir: Path, task_id: str, prompt: str, **config: Any) -> str:
    """An ``image`` task's result in ``run_dir`` (the sim's placeholders), for embedding."""
    spec = TaskSpec(id=task_id, kind="image", prompt=prompt, config=config)
    ctx = context(run_dir, "image", {}, task_id=task_id)
    ctx.spec = spec
    return run(ctx)


def run(ctx: TaskContext) -> str:
    """Run the context's task kind to its result."""
    return anyio.run(get_worker(ctx.spec.kind).run, ctx)


def problems(kind: str, config: dict[str, Any], deps: tuple[str, ...] = ("a",)) -> list[str]:
    """The validator's problems with a plan holding one such task (its deps as llm tasks)."""
    tasks: list[dict[str, Any]] = [{"id": d, "kind": "llm", "prompt": "x"} for d in deps]
    tasks.append({"id": "agg", "kind": kind, "deps": list(deps), "config": config})
    try:
        validate_data({"goal": "g", "tasks": tasks})
    except PlanError as exc:
        return [str(p) for p in exc.problems]
    return []


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's package; .ci/run installs it)."""
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does this)")
    with chromium() as running:
        yield running

"""`swarm run GOAL`: plan and execute in one go; tasks start while the planner still writes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from planners import PlannerSettings
from planners.planner import check_request
from swarm.api import submit_goal
from swarm.cli.app import app, err_console
from swarm.cli.options import DEFAULT_MAX_TASKS, DbOption, JsonOption, MaxTasksOption, QuietOption
from swarm.cli.planner_cmds import _images
from swarm.cli.run_cmds import (
    ArtifactsOption,
    ConcurrencyOption,
    FailFastOption,
    MaxCostOption,
    MaxReplansOption,
    MaxStepsOption,
    MaxTokensOption,
    ProviderOption,
    RunIdOption,
    _exit_code,
    _report,
    _run,
    budget_overrides,
    check_run_id,
)
from swarm.providers.factory import default_provider_name, make_provider
from swarm.runtime import run as runs
from swarm.store.engine import default_db
from swarm.store.store import Store


@app.command("run")
def run_goal(
    goal: Annotated[str, typer.Argument(metavar="GOAL", help="What the swarm should achieve.")],
    db: DbOption = None,
    provider: ProviderOption = None,
    image: Annotated[
        list[str] | None, typer.Option("--image", help="An image for the planner (repeatable).")
    ] = None,
    max_tasks: MaxTasksOption = DEFAULT_MAX_TASKS,
    concurrency: ConcurrencyOption = None,
    max_steps: MaxStepsOption = None,
    max_tokens: MaxTokensOption = None,
    max_cost: MaxCostOption = None,
    fail_fast: FailFastOption = False,
    max_replans: MaxReplansOption = 0,
    run_id: RunIdOption = None,
    artifacts_dir: ArtifactsOption = Path("swarm-runs"),
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Plan GOAL with the planner model and run the plan while it is being written."""
    check_run_id(run_id)
    images = _images(image or [])
    budget = budget_overrides(concurrency, max_steps, max_tokens, max_cost)
    settings = PlannerSettings(
        max_tasks=max_tasks,
        concurrency=concurrency or PlannerSettings.concurrency,
        step_pool=max_steps or PlannerSettings.step_pool,
    )
    check_request(goal, settings)  # before the database is touched: bad input writes nothing
    options = runs.RunOptions(
        provider=provider or default_provider_name(),
        fail_fast=fail_fast,
        max_replans=max_replans,
        artifacts_dir=str(artifacts_dir.resolve()),
    )
    model = make_provider(options.provider)
    if model.simulated and not as_json:
        err_console.print("provider: sim — simulated plan and answers, no real model is called")

    async def work(store: Store, hooks: runs.Hooks) -> dict[str, Any]:
        return await submit_goal(
            store,
            goal,
            model,
            options,
            settings,
            images=images,
            run_id=run_id,
            hooks=hooks,
            budget=budget,
        )

    summary = anyio.run(_run, db or default_db(), model, quiet or as_json, work)
    _report(summary, as_json)
    raise typer.Exit(_exit_code(summary["status"]))

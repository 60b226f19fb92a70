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
from swarm.cli.planner_cmds import _images
from swarm.cli.run_cmds import DbOption, JsonOption, QuietOption, _exit_code, _report, _run
from swarm.errors import ConfigError
from swarm.providers.factory import PROVIDERS, default_provider_name, make_provider
from swarm.runtime import run as runs
from swarm.store.engine import default_db
from swarm.store.store import Store


@app.command("run")
def run_goal(
    goal: Annotated[str, typer.Argument(metavar="GOAL", help="What the swarm should achieve.")],
    db: DbOption = None,
    provider: Annotated[
        str | None, typer.Option(help=f"Model provider: {', '.join(PROVIDERS)}.")
    ] = None,
    image: Annotated[
        list[str] | None, typer.Option("--image", help="An image for the planner (repeatable).")
    ] = None,
    max_tasks: Annotated[int, typer.Option(min=1, max=5000, help="Most tasks to plan.")] = 300,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="Tasks running at once.")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Swarm-wide step pool.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Run-wide token budget.")] = None,
    max_cost: Annotated[float | None, typer.Option(min=0.0, help="Run-wide USD budget.")] = None,
    fail_fast: Annotated[bool, typer.Option(help="Stop the run at the first failed task.")] = False,
    max_replans: Annotated[
        int,
        typer.Option(min=0, max=20, help="Let the planner revise up to N failed branches."),
    ] = 0,
    run_id: Annotated[str | None, typer.Option(help="Choose the new run's id.")] = None,
    artifacts_dir: Annotated[
        Path, typer.Option(help="Folder for the runs' files: each run writes to DIR/RUN_ID/.")
    ] = Path("swarm-runs"),
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Plan GOAL with the planner model and run the plan while it is being written."""
    if run_id is not None and not run_id.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"--run-id {run_id!r}: use letters, digits, '-' and '_' only")
    images = _images(image or [])
    budget: dict[str, Any] = {
        key: value
        for key, value in (
            ("max_concurrency", concurrency),
            ("max_steps", max_steps),
            ("max_tokens", max_tokens),
            ("max_cost_usd", max_cost),
        )
        if value is not None
    }
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

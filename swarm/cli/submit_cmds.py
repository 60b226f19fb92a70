"""`swarm run GOAL`: plan and execute in one go; tasks start while the planner still writes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from swarm.cli.app import app, err_console
from swarm.cli.options import DEFAULT_MAX_TASKS, DbOption, JsonOption, MaxTasksOption, QuietOption
from swarm.cli.planner_cmds import _images
from swarm.cli.run_cmds import (
    ArtifactsOption,
    BaseUrlOption,
    ConcurrencyOption,
    ExecutorOption,
    FailFastOption,
    MaxCostOption,
    MaxReplansOption,
    MaxStepsOption,
    MaxTokensOption,
    ModelOption,
    PriceInOption,
    PriceOutOption,
    ProviderOption,
    RateLimitOption,
    RayAddressOption,
    RayKindsOption,
    ReasoningOption,
    RunIdOption,
    _exit_code,
    _report,
    flag_prices,
    live_hooks,
    run_settings,
)
from swarm.defaults import ARTIFACTS_DIR

if TYPE_CHECKING:  # the planner, the API and the store are imported when the command runs
    from swarm.api_types import RunSummary


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
    artifacts_dir: ArtifactsOption = Path(ARTIFACTS_DIR),
    model_name: ModelOption = None,
    reasoning_effort: ReasoningOption = None,
    base_url: BaseUrlOption = None,
    rate_limit: RateLimitOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
    ray_kinds: RayKindsOption = "code",
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="plan: the planner writes the DAG; orchestrate: an orchestrator agent spawns "
            "sub-agents as it goes (Kimi's Agent and AgentSwarm tools).",
        ),
    ] = "plan",
) -> None:
    """Plan GOAL with the planner model and run the plan while it is being written."""
    import anyio

    from planners import PlannerSettings
    from planners.planner import check_request
    from swarm.api import Swarm
    from swarm.cli.progress import Progress
    from swarm.orchestrate import check_mode
    from swarm.providers.factory import default_provider_name
    from swarm.store.engine import default_db

    check_mode(mode, image or ())
    images = _images(image or [])
    planner = PlannerSettings(
        max_tasks=max_tasks,
        concurrency=concurrency or PlannerSettings.concurrency,
        step_pool=max_steps or PlannerSettings.step_pool,
    )
    check_request(goal, planner)  # before the database is touched: bad input writes nothing
    settings = run_settings(
        run_id=run_id,
        fail_fast=fail_fast,
        concurrency=concurrency,
        max_steps=max_steps,
        max_tokens=max_tokens,
        max_cost=max_cost,
        model=model_name,
        reasoning_effort=reasoning_effort,
        max_replans=max_replans,
        prices=flag_prices(model_name, price_in, price_out),
        executor=executor,
        ray_address=ray_address,
        ray_kinds=ray_kinds,
    )
    swarm = Swarm(
        db or default_db(),
        provider=provider or default_provider_name(),
        artifacts_dir=artifacts_dir,
        base_url=base_url,
        rate_limit=rate_limit,
    )

    async def main() -> RunSummary:
        async with swarm as sw:
            simulated = sw.provider.simulated
            if simulated and not as_json:
                err_console.print(
                    "provider: sim — simulated plan and answers, no real model is called"
                )
            progress = Progress(err_console, simulated=simulated, quiet=quiet or as_json)
            try:
                return await sw.submit(
                    goal,
                    images=images,
                    planner=planner,
                    hooks=live_hooks(progress),
                    mode=mode,
                    **settings,
                )
            finally:
                progress.stop()

    summary = anyio.run(main)
    _report(summary, as_json)
    raise typer.Exit(_exit_code(summary.status))

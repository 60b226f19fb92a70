"""`swarm retry`: give a run's failed tasks new attempts and go on, keeping what succeeded."""

from __future__ import annotations

from typing import Annotated

import typer

from swarm.cli.app import app
from swarm.cli.options import DbOption, JsonOption, QuietOption
from swarm.cli.run_cmds import (
    ConcurrencyOption,
    MaxCostOption,
    MaxStepsOption,
    MaxTokensOption,
    budget_limits,
    go_on,
)


@app.command()
def retry(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run whose tasks failed.")],
    task: Annotated[
        list[str] | None,
        typer.Option("--task", help="A failed task to retry (repeat it; default: every one)."),
    ] = None,
    db: DbOption = None,
    max_steps: MaxStepsOption = None,
    max_tokens: MaxTokensOption = None,
    max_cost: MaxCostOption = None,
    concurrency: ConcurrencyOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run failed tasks again (all, or those named) with their skipped descendants."""
    # Succeeded results are kept: useful after fixing a key, a quota or a tool.
    limits = budget_limits(concurrency, max_steps, max_tokens, max_cost)
    go_on(
        db,
        as_json,
        quiet,
        lambda sw, hooks: sw.retry(run_id, tasks=task or (), hooks=hooks, limits=limits),
    )

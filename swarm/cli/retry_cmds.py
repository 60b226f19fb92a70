"""`swarm retry`: give a run's failed tasks new attempts and go on, keeping what succeeded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from swarm.cli.app import app
from swarm.cli.options import DbOption, JsonOption, QuietOption
from swarm.cli.run_cmds import (
    ConcurrencyOption,
    MaxCostOption,
    MaxStepsOption,
    MaxTokensOption,
    _exit_code,
    _report,
    _run,
    budget_overrides,
)
from swarm.errors import RunNotFound
from swarm.providers.factory import make_provider
from swarm.runtime import retrying
from swarm.runtime import run as runs
from swarm.store.engine import default_db
from swarm.store.store import Store


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
    limits = budget_overrides(concurrency, max_steps, max_tokens, max_cost)
    path: Path = db or default_db()
    if not path.exists():
        raise RunNotFound(run_id, str(path))

    async def main() -> dict[str, Any]:
        store = await Store.open(path)
        try:
            record = await store.load_run(run_id)
        finally:
            await store.close()
        options = runs.RunOptions.from_config(record.config)
        model = make_provider(
            options.provider, base_url=options.base_url, rate_limit=options.rate_limit
        )

        async def work(store: Store, hooks: runs.Hooks) -> dict[str, Any]:
            return await retrying.retry(
                store, run_id, model, tasks=task or (), hooks=hooks, limits=limits
            )

        return await _run(path, model, quiet or as_json, work)

    summary = anyio.run(main)
    _report(summary, as_json)
    raise typer.Exit(_exit_code(summary["status"]))

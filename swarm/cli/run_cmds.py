"""`swarm execute` and `swarm resume`: run a plan, or continue a run, and report its summary.

With ``--json`` stdout carries exactly one JSON object when the run ends; progress and every
other message go to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, get_args

import anyio
import typer

from swarm.api import with_budget
from swarm.cli.app import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_PAUSED, app, err_console
from swarm.cli.inspect_text import money, stdout_console
from swarm.cli.options import DbOption, JsonOption, QuietOption
from swarm.cli.progress import Progress
from swarm.core.budget import Shortfall
from swarm.errors import ConfigError, RunNotFound
from swarm.plan import Plan, ReasoningEffort
from swarm.providers.base import Provider
from swarm.providers.factory import PROVIDERS, default_provider_name, make_provider
from swarm.runtime import run as runs
from swarm.store.engine import default_db
from swarm.store.store import Store
from swarm.validation import validate_file


def _exit_code(status: str) -> int:
    codes = {"succeeded": EXIT_OK, "cancelled": EXIT_CANCELLED, "paused": EXIT_PAUSED}
    return codes.get(status, EXIT_FAILED)


ProviderOption = Annotated[
    str | None, typer.Option(help=f"Model provider: {', '.join(PROVIDERS)}.")
]
ConcurrencyOption = Annotated[
    int | None, typer.Option(min=1, max=10_000, help="Tasks running at once (plan: 64).")
]
MaxStepsOption = Annotated[
    int | None, typer.Option(min=1, help="Swarm-wide step pool (plan default: 4000).")
]
MaxTokensOption = Annotated[int | None, typer.Option(min=1, help="Run-wide token budget.")]
MaxCostOption = Annotated[float | None, typer.Option(min=0.0, help="Run-wide USD budget.")]
FailFastOption = Annotated[bool, typer.Option(help="Stop the run at the first failed task.")]
MaxReplansOption = Annotated[
    int, typer.Option(min=0, max=20, help="Let the planner revise up to N failed branches.")
]
RunIdOption = Annotated[str | None, typer.Option(help="Choose the new run's id.")]
ArtifactsOption = Annotated[
    Path, typer.Option(help="Folder for the runs' files: each run writes to DIR/RUN_ID/.")
]
"""The options `swarm execute` and `swarm run` share."""


def budget_overrides(
    concurrency: int | None,
    max_steps: int | None,
    max_tokens: int | None,
    max_cost: float | None,
) -> dict[str, Any]:
    """The budget fields the flags set (for :func:`swarm.api.with_budget`)."""
    flags = {
        "max_concurrency": concurrency,
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "max_cost_usd": max_cost,
    }
    return {key: value for key, value in flags.items() if value is not None}


def check_run_id(run_id: str | None) -> None:
    if run_id is not None and not run_id.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"--run-id {run_id!r}: use letters, digits, '-' and '_' only")


def _apply_model_overrides(plan: Plan, model: str | None, reasoning_effort: str | None) -> Plan:
    """``--model`` and ``--reasoning-effort`` replace the plan's defaults (tasks that set their
    own keep them); the stored plan carries them, so a resume uses them too."""
    if model is None and reasoning_effort is None:
        return plan
    efforts = get_args(ReasoningEffort)
    if reasoning_effort is not None and reasoning_effort not in efforts:
        raise ConfigError(
            f"--reasoning-effort {reasoning_effort!r} is not one of {', '.join(efforts)}"
        )
    defaults = plan.defaults
    if reasoning_effort is not None:
        params = defaults.params.model_copy(update={"reasoning_effort": reasoning_effort})
        defaults = defaults.model_copy(update={"params": params})
    if model is not None:
        if not model.strip():
            raise ConfigError("--model is empty", hint="e.g. --model moonshotai/kimi-k2.6")
        defaults = defaults.model_copy(update={"model": model.strip()})
    return plan.model_copy(update={"defaults": defaults})


_SHORTFALL = ("resource", "needed", "left", "limit")


def _report(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = stdout_console()  # off a terminal: no wrapping mid-phrase
    c = summary["counts"]
    label = " [simulated: no real model was called]" if summary["simulated"] else ""
    console.print(
        f"run {summary['run_id']} {summary['status']}{label}\n"
        f"  tasks: {c.get('succeeded', 0)} succeeded, {c.get('failed', 0)} failed, "
        f"{c.get('skipped', 0)} skipped, {c.get('cancelled', 0)} cancelled of {summary['tasks']}\n"
        f"  makespan {summary['makespan_s']:.2f}s, steps {summary['steps_total']} "
        f"(critical {summary['steps_critical']}), tokens {summary['tokens_in']} in / "
        f"{summary['tokens_out']} out, est. cost {money(summary['cost_usd'])}\n"
        f"  db {summary['db']}",
        markup=False,
    )
    if summary["status"] == "cancelled":
        console.print(f"  resume with: swarm resume {summary['run_id']} --db {summary['db']}")
    if summary["status"] == "paused":
        paused = summary["paused"]
        console.print(
            f"  paused: {Shortfall(**{k: paused[k] for k in _SHORTFALL}).describe()}\n"
            f"  continue with: swarm resume {summary['run_id']} --db {summary['db']} "
            f"{paused['flag']} {paused['suggested']}",
            markup=False,
            soft_wrap=True,
        )


async def _run(
    db: Path,
    provider: Provider,
    quiet: bool,
    work: Any,
) -> dict[str, Any]:
    progress = Progress(err_console, simulated=provider.simulated, quiet=quiet)
    hooks = runs.Hooks(on_start=progress.attach, on_tick=progress.tick, handle_signals=True)
    store = await Store.open(db)
    try:
        summary: dict[str, Any] = await work(store, hooks)
        return summary
    finally:
        progress.stop()
        with anyio.CancelScope(shield=True):
            await store.close()
            await provider.aclose()


@app.command()
def execute(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="A plan JSON file.")],
    db: DbOption = None,
    provider: ProviderOption = None,
    concurrency: ConcurrencyOption = None,
    max_steps: MaxStepsOption = None,
    max_tokens: MaxTokensOption = None,
    max_cost: MaxCostOption = None,
    fail_fast: FailFastOption = False,
    max_replans: MaxReplansOption = 0,
    run_id: RunIdOption = None,
    artifacts_dir: ArtifactsOption = Path("swarm-runs"),
    model_name: Annotated[
        str | None,
        typer.Option("--model", help="Model for every task without its own (plan defaults.model)."),
    ] = None,
    reasoning_effort: Annotated[
        str | None,
        typer.Option(help="none, low, medium or high (plan defaults.params.reasoning_effort)."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Address of the replicate or openai provider's API.")
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option(min=1, help="Prediction creations per minute (default 600).")
    ] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run a plan: validate it, record it in the database, and execute its DAG."""
    check_run_id(run_id)
    budget = budget_overrides(concurrency, max_steps, max_tokens, max_cost)
    plan = with_budget(validate_file(plan_file), budget)
    plan = _apply_model_overrides(plan, model_name, reasoning_effort)
    options = runs.RunOptions(
        provider=provider or default_provider_name(),
        fail_fast=fail_fast,
        max_replans=max_replans,
        artifacts_dir=str(artifacts_dir.resolve()),
        model=model_name,
        base_url=base_url,
        rate_limit=rate_limit,
    )
    model = make_provider(options.provider, base_url=base_url, rate_limit=rate_limit)
    path = db or default_db()
    if model.simulated and not as_json:
        err_console.print("provider: sim — simulated answers, no real model is called")

    async def work(store: Store, hooks: runs.Hooks) -> dict[str, Any]:
        return await runs.execute(store, plan, model, options, run_id=run_id, hooks=hooks)

    summary = anyio.run(_run, path, model, quiet or as_json, work)
    _report(summary, as_json)
    raise typer.Exit(_exit_code(summary["status"]))


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to continue.")],
    db: DbOption = None,
    max_steps: MaxStepsOption = None,
    max_tokens: MaxTokensOption = None,
    max_cost: MaxCostOption = None,
    concurrency: ConcurrencyOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Continue a run from the database alone; finished tasks are not run again."""
    # The budget flags raise (or lower) the run's limits first: a paused run goes on.
    limits = budget_overrides(concurrency, max_steps, max_tokens, max_cost)
    path = db or default_db()
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
            return await runs.resume(store, run_id, model, hooks=hooks, limits=limits)

        return await _run(path, model, quiet or as_json, work)

    summary = anyio.run(main)
    _report(summary, as_json)
    raise typer.Exit(_exit_code(summary["status"]))

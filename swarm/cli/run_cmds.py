"""`swarm execute` and `swarm resume`: run a plan, or continue a run, and report its summary.

With ``--json`` stdout carries exactly one JSON object when the run ends; progress and every
other message go to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from swarm.cli.app import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_WAITING,
    app,
    err_console,
)
from swarm.cli.inspect_text import money, stdout_console
from swarm.cli.options import PROVIDER_NAMES, DbOption, JsonOption, QuietOption
from swarm.defaults import ARTIFACTS_DIR
from swarm.errors import ConfigError

if TYPE_CHECKING:  # the runtime, the API and the store are imported by the commands that run
    from swarm.api import Swarm
    from swarm.api_settings import RunSettings
    from swarm.api_types import RunSummary
    from swarm.cli.progress import Progress
    from swarm.runtime import run as runs


def _exit_code(status: str) -> int:
    codes = {
        "succeeded": EXIT_OK,
        "cancelled": EXIT_CANCELLED,
        "paused": EXIT_PAUSED,
        "waiting": EXIT_WAITING,
    }
    return codes.get(status, EXIT_FAILED)


ProviderOption = Annotated[
    str | None, typer.Option(help=f"Model provider: {', '.join(PROVIDER_NAMES)}.")
]
ConcurrencyOption = Annotated[
    int | None, typer.Option(min=1, max=10_000, help="Tasks running at once (plan: 64).")
]
MaxStepsOption = Annotated[
    int | None, typer.Option(min=1, help="Swarm-wide step pool (plan default: 4000).")
]
MaxTokensOption = Annotated[int | None, typer.Option(min=1, help="Run-wide token budget.")]
MaxCostOption = Annotated[
    float | None,
    typer.Option(help="Run-wide US$ budget, more than 0 (omit the flag for no dollar limit)."),
]
FailFastOption = Annotated[bool, typer.Option(help="Stop the run at the first failed task.")]
MaxReplansOption = Annotated[
    int, typer.Option(min=0, max=20, help="Let the planner revise up to N failed branches.")
]
WaitApprovalsOption = Annotated[
    bool,
    typer.Option(
        "--wait-approvals",
        help="While only approvals can move the run on, keep waiting for them (swarm approve "
        "from any shell) instead of ending it waiting (exit 5).",
    ),
]
RunIdOption = Annotated[str | None, typer.Option(help="Choose the new run's id.")]
ArtifactsOption = Annotated[
    Path, typer.Option(help="Folder for the runs' files: each run writes to DIR/RUN_ID/.")
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="Model for every task without its own (plan defaults.model)."),
]
ReasoningOption = Annotated[
    str | None,
    typer.Option(help="none, low, medium or high (plan defaults.params.reasoning_effort)."),
]
BaseUrlOption = Annotated[
    str | None, typer.Option(help="Address of the replicate or openai provider's API.")
]
RateLimitOption = Annotated[
    int | None, typer.Option(min=1, help="Prediction creations per minute (default 600).")
]
PriceInOption = Annotated[
    float | None,
    typer.Option(help="US$ per million input tokens of the run's model (with --price-out)."),
]
PriceOutOption = Annotated[
    float | None,
    typer.Option(help="US$ per million output tokens of the run's model (with --price-in)."),
]
"""The options `swarm execute` and `swarm run` share."""


ExecutorOption = Annotated[
    str,
    typer.Option(help="Where attempts run: local (this process) or ray (needs the ray extra)."),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        help="An existing Ray cluster, host:port (else SWARM_RAY_ADDRESS, else a local one)."
    ),
]
RayKindsOption = Annotated[
    str, typer.Option(help="Kinds whose attempts run on the Ray cluster, comma-separated.")
]


def run_settings(
    *,
    run_id: str | None,
    fail_fast: bool,
    concurrency: int | None,
    max_steps: int | None,
    max_tokens: int | None,
    max_cost: float | None,
    model: str | None,
    reasoning_effort: str | None,
    max_replans: int,
    prices: dict[str, tuple[float, float]],
    executor: str = "local",
    ray_address: str | None = None,
    ray_kinds: str = "code",
) -> RunSettings:
    """The flags as :class:`~swarm.api_settings.RunSettings` (flags left out are left out)."""
    given: dict[str, Any] = {
        "run_id": run_id,
        "concurrency": concurrency,
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "max_cost": max_cost,
        "model": model,
        "reasoning_effort": reasoning_effort,
    }
    settings = cast("RunSettings", {k: v for k, v in given.items() if v is not None})
    settings["fail_fast"], settings["max_replans"] = fail_fast, max_replans
    settings["prices"] = prices
    settings["executor"], settings["ray_kinds"] = executor, ray_kinds.split(",")
    if ray_address is not None:
        settings["ray_address"] = ray_address
    return settings


def flag_prices(
    model: str | None, price_in: float | None, price_out: float | None
) -> dict[str, tuple[float, float]]:
    """``--price-in/--price-out`` as the run's prices, for ``model``."""
    if price_in is None and price_out is None:
        return {}
    if price_in is None or price_out is None:
        raise ConfigError("--price-in and --price-out go together", hint="give both, or neither")
    if model is None:
        raise ConfigError(
            "--price-in/--price-out need the model they price",
            hint="add --model (the plan's defaults.model, e.g. --model kimi-k2.6)",
        )
    return {model: (price_in, price_out)}


_SHORTFALL = ("resource", "needed", "left", "limit")


def _report(result: RunSummary, as_json: bool) -> None:
    summary = result.to_dict()
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
        f"{summary['tokens_out']} out, est. cost {_cost_text(result)}\n"
        f"  db {summary['db']}",
        markup=False,
    )
    if summary["status"] == "cancelled":
        console.print(f"  resume with: swarm resume {summary['run_id']} --db {summary['db']}")
    if summary["status"] == "waiting":
        waiting = summary.get("waiting") or {}
        names = ", ".join(sorted(waiting)[:10]) + (" …" if len(waiting) > 10 else "")
        console.print(
            f"  waiting: {len(waiting)} task(s) wait for a decision ({names})\n"
            f"  decide with: swarm approvals {summary['run_id']} --db {summary['db']}, then "
            f"swarm approve|reject {summary['run_id']} TASK\n"
            f"  continue with: swarm resume {summary['run_id']} --db {summary['db']}",
            markup=False,
            soft_wrap=True,
        )
    if summary["status"] == "paused":
        from swarm.core.budget import Shortfall

        paused = summary["paused"]
        console.print(
            f"  paused: {Shortfall(**{k: paused[k] for k in _SHORTFALL}).describe()}\n"
            f"  continue with: swarm resume {summary['run_id']} --db {summary['db']} "
            f"{paused['flag']} {paused['suggested']}",
            markup=False,
            soft_wrap=True,
        )


def _cost_text(summary: RunSummary) -> str:
    cost = money(summary.cost_usd)
    if not summary.unpriced_models:
        return cost
    names = ", ".join(summary.unpriced_models)
    return f"{cost} + unknown (no price for {names})"


def live_hooks(progress: Progress) -> runs.Hooks:
    """The hooks of a CLI run: the live display, warnings on stderr, Ctrl-C cancels."""
    from swarm.runtime.run import Hooks

    return Hooks(
        on_start=progress.attach,
        on_tick=progress.tick,
        on_warning=lambda text: err_console.print(f"warning: {text}", markup=False),
        handle_signals=True,
    )


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
    artifacts_dir: ArtifactsOption = Path(ARTIFACTS_DIR),
    model_name: ModelOption = None,
    reasoning_effort: ReasoningOption = None,
    base_url: BaseUrlOption = None,
    rate_limit: RateLimitOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    wait_approvals: WaitApprovalsOption = False,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
    ray_kinds: RayKindsOption = "code",
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run a plan: validate it, record it in the database, and execute its DAG."""
    import anyio

    from swarm.api import Swarm
    from swarm.cli.progress import Progress
    from swarm.providers.factory import default_provider_name
    from swarm.store.engine import default_db
    from swarm.validation import validate_file

    plan = validate_file(plan_file)
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
        prices=flag_prices(model_name or plan.defaults.model, price_in, price_out),
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
            ready = sw.prepare(plan, **settings)  # every check before anything is written
            if sw.provider.simulated and not as_json:
                err_console.print("provider: sim — simulated answers, no real model is called")
            progress = Progress(
                err_console, simulated=sw.provider.simulated, quiet=quiet or as_json
            )
            try:
                hooks = live_hooks(progress)
                return await sw.execute_prepared(ready, hooks, wait_approvals=wait_approvals)
            finally:
                progress.stop()

    summary = anyio.run(main)
    _report(summary, as_json)
    raise typer.Exit(_exit_code(summary.status))


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to continue.")],
    db: DbOption = None,
    max_steps: MaxStepsOption = None,
    max_tokens: MaxTokensOption = None,
    max_cost: MaxCostOption = None,
    concurrency: ConcurrencyOption = None,
    wait_approvals: WaitApprovalsOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Continue a run from the database alone; finished tasks are not run again."""
    limits = budget_limits(concurrency, max_steps, max_tokens, max_cost)
    go_on(
        db,
        as_json,
        quiet,
        lambda sw, hooks: sw.resume(
            run_id, hooks=hooks, limits=limits, wait_approvals=wait_approvals
        ),
    )


def budget_limits(
    concurrency: int | None, max_steps: int | None, max_tokens: int | None, max_cost: float | None
) -> dict[str, Any]:
    """The run limits the flags of `swarm resume` and `swarm retry` change."""
    if max_cost is not None and not max_cost > 0:
        raise ConfigError(
            f"--max-cost {max_cost:g}: a cost budget must be a positive amount",
            hint="give more than 0, or omit the flag to keep the run's dollar limit",
        )
    given = {
        "max_concurrency": concurrency,
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "max_cost_usd": max_cost,
    }
    return {key: value for key, value in given.items() if value is not None}


def go_on(
    db: str | Path | None,
    as_json: bool,
    quiet: bool,
    call: Callable[[Swarm, runs.Hooks], Awaitable[RunSummary]],
) -> None:
    """Continue a recorded run (`resume`, `retry`) with the live display, report, and exit
    with the run's code."""
    import anyio

    from swarm.api import Swarm
    from swarm.cli.progress import Progress
    from swarm.store.engine import default_db

    async def main() -> RunSummary:
        async with Swarm(db or default_db()) as sw:  # the provider the run was started with
            progress = Progress(err_console, simulated=False, quiet=quiet or as_json)

            def attach(driver: Any) -> None:
                progress.simulated = driver.provider.simulated
                progress.attach(driver)

            hooks = live_hooks(progress)
            hooks.on_start = attach
            try:
                return await call(sw, hooks)
            finally:
                progress.stop()

    summary = anyio.run(main)
    _report(summary, as_json)
    raise typer.Exit(_exit_code(summary.status))

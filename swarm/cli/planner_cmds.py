"""`swarm plan GOAL`: ask the planner for a plan and print it, or write it as a plan file that a
person can read, edit and then run with `swarm execute`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from swarm.cli.app import EXIT_INPUT, app, err_console
from swarm.cli.options import (
    DEFAULT_MAX_TASKS,
    PROVIDER_NAMES,
    BaseUrlOption,
    MaxTasksOption,
    ModelOption,
    RateLimitOption,
    ReasoningEffortOption,
)
from swarm.cli.plan_summary import Summary, problems_json
from swarm.errors import ConfigError, PlanError, ProviderError

if TYPE_CHECKING:
    from planners import PlannerSettings
    from swarm.plan import Plan
    from swarm.providers.base import Provider

_TASK_KEY_ORDER = ("id", "kind", "title", "deps", "prompt")


def plan_text(plan: Plan) -> str:
    """The plan as JSON for people: plan settings indented, then one task per line."""
    data = plan.model_dump(mode="json", exclude_none=True)
    del data["tasks"]
    head = json.dumps(data, indent=2, ensure_ascii=False)
    rows = []
    for spec in plan.tasks:
        fields = spec.model_dump(mode="json", exclude_defaults=True)
        ordered = {k: fields.pop(k) for k in _TASK_KEY_ORDER if k in fields} | fields
        rows.append("    " + json.dumps(ordered, ensure_ascii=False))
    tasks = ",\n".join(rows)
    return head.removesuffix("\n}") + f',\n  "tasks": [\n{tasks}\n  ]\n}}\n'


def _images(refs: list[str]) -> tuple[str, ...]:
    """Image paths made absolute after a check that each is an image the model can take."""
    from swarm.providers.images import PASS_THROUGH, image_input

    out = []
    for ref in refs:
        try:
            image_input(ref)
        except ProviderError as exc:
            raise ConfigError(exc.message, hint=exc.hint) from None
        out.append(ref if ref.startswith(PASS_THROUGH) else str(Path(ref).expanduser().resolve()))
    return tuple(out)


async def _plan(
    goal: str, provider: Provider, settings: PlannerSettings, images: tuple[str, ...]
) -> Plan:
    from planners import plan_goal

    try:
        return await plan_goal(goal, provider, settings, images=images)
    finally:
        await provider.aclose()


def _write(output: Path, text: str) -> None:
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write the plan to {output}: {exc.strerror or exc}",
            hint="check that the directory exists and is writable",
        ) from None


def _summary(plan: Plan, output: Path | None, simulated: bool) -> dict[str, Any]:
    s = Summary.of(plan)
    return {
        "ok": True,
        "goal": plan.goal,
        "tasks": s.tasks,
        "edges": s.edges,
        "kinds": s.kinds,
        "critical_path": s.critical_path,
        "simulated": simulated,
        "output": str(output) if output else None,
        "plan": json.loads(plan.model_dump_json(exclude_none=True)),
    }


@app.command("plan")
def plan_command(
    goal: Annotated[
        str,
        typer.Argument(metavar="GOAL", help="What the swarm should achieve.", show_default=False),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the plan to this file instead of printing it."),
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help=f"Model provider: {', '.join(PROVIDER_NAMES)}.")
    ] = None,
    image: Annotated[
        list[str] | None,
        typer.Option("--image", help="An image (file or https URL) the planner sees; repeatable."),
    ] = None,
    max_tasks: MaxTasksOption = DEFAULT_MAX_TASKS,
    model_name: ModelOption = None,
    reasoning_effort: ReasoningEffortOption = None,
    base_url: BaseUrlOption = None,
    rate_limit: RateLimitOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (the plan and a summary).")
    ] = False,
) -> None:
    """Turn GOAL into a plan with the planner model (Kimi K2.6; `--provider sim` offline).

    A bad answer is re-asked (twice at most) with the exact problems `swarm validate` lists.
    Exits 2 if no valid plan came back.
    """
    import anyio

    from planners.planner import check_request
    from swarm.providers.factory import default_provider_name

    settings = planner_settings(max_tasks, model_name, reasoning_effort)
    check_request(goal, settings)
    images = _images(image or [])
    model = make_provider(
        provider or default_provider_name(), base_url=base_url, rate_limit=rate_limit
    )
    if model.simulated:
        err_console.print("provider: sim — a simulated plan, no real model is called")
    err_console.print(planning_line(model, settings), highlight=False, markup=False)
    try:
        plan = anyio.run(_plan, goal, model, settings, images)
    except PlanError as exc:
        if not as_json:
            raise
        typer.echo(problems_json(exc))
        raise typer.Exit(EXIT_INPUT) from None
    text = plan_text(plan)
    if output is not None:
        _write(output, text)
    if as_json:
        typer.echo(json.dumps(_summary(plan, output, model.simulated), ensure_ascii=False))
    elif output is None:
        typer.echo(text, nl=False)
    else:
        s = Summary.of(plan)
        label = " (simulated plan)" if model.simulated else ""
        typer.echo(
            f"wrote {output}: {s.tasks} tasks, {s.edges} edges, "
            f"critical path {s.critical_path} tasks{label}"
        )


def make_provider(name: str, *, base_url: str | None, rate_limit: int | None) -> Provider:
    """The provider the planner calls (tests put a scripted one here)."""
    from swarm.providers.factory import make_provider as make

    return make(name, base_url=base_url, rate_limit=rate_limit)


def planner_settings(
    max_tasks: int, model: str | None, reasoning_effort: str | None
) -> PlannerSettings:
    """The planner's settings from the flags; a model or effort not given keeps its default."""
    from planners import PlannerSettings

    changes: dict[str, Any] = {"max_tasks": max_tasks}
    if model is not None:
        if not model.strip():
            raise ConfigError("--model is empty", hint="e.g. --model moonshotai/kimi-k2.6")
        changes["model"] = model.strip()
    if reasoning_effort is not None:
        changes["reasoning_effort"] = reasoning_effort
    return PlannerSettings(**changes)


def planning_line(model: Provider, settings: PlannerSettings) -> str:
    """What the planner is about to do, in words that do not pretend a simulated provider
    calls the model it would stand in for."""
    if model.simulated:
        return f"planning with {model.name} (simulated)…"
    return f"planning with {settings.model} via {model.name}…"

"""What every aggregator shares at run time: naming its files, asking the model for
schema-checked JSON, and the short JSON summary it returns (its config's checks are in
:mod:`workers.rules.common`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from swarm.errors import BudgetExceeded, OutputError
from swarm.plan import TaskSpec
from swarm.untrusted import loads_json
from workers.aggregate.files import safe_name, write_artifact
from workers.aggregate.sources import humanise
from workers.base import TaskContext
from workers.context_window import CONTEXT_TOKENS, fit_inputs
from workers.llm import check_output, extract_json

REASKS = 1
SIMULATED = (
    "Simulated: made by swarm's sim provider, not a real model. "
    "Names, figures and text are invented; do not rely on them."
)
"""What every artifact of a simulated run says where its reader looks."""
T = TypeVar("T")


def title_of(spec: TaskSpec) -> str:
    return str(spec.config.get("title") or spec.title or humanise(spec.id))


def simulated(ctx: TaskContext) -> bool:
    """Whether the run's answers came from a simulated provider (its artifacts say so)."""
    return bool(getattr(ctx.provider, "simulated", False))


async def off_loop(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a rendering or writing function in a worker thread (anyio's default thread limiter),
    so building a deck or a workbook holds up neither the event loop nor the other tasks."""
    return await anyio.to_thread.run_sync(partial(func, *args, **kwargs))


async def write(ctx: TaskContext, kind: str, name: str, data: bytes) -> str:
    """:func:`write_artifact` in a worker thread (it fsyncs)."""
    return await off_loop(write_artifact, ctx, kind, name, data)


def stem_of(spec: TaskSpec) -> str:
    """The base name of the task's files (its extension, if any, dropped)."""
    name = str(spec.config.get("filename") or spec.id)
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    return safe_name(stem, "artifact")


def titles_of(spec: TaskSpec) -> dict[str, str]:
    titles = spec.config.get("titles", {})
    return {str(k): str(v) for k, v in titles.items()} if isinstance(titles, dict) else {}


def summary(kind: str, paths: list[str], **extra: Any) -> str:
    """The task's result: what it wrote, relative to the run folder."""
    return json.dumps({"kind": kind, "artifacts": paths, **extra}, sort_keys=True)


async def ask_json(ctx: TaskContext, instructions: str, schema: dict[str, Any]) -> Any:
    """One model pass that must answer JSON fitting ``schema`` (re-asked once with the problem).

    The dependencies' results go into the prompt, trimmed to fit the context window."""
    max_tokens = ctx.params.max_tokens or 2048
    budget = CONTEXT_TOKENS - max_tokens - len(instructions) // 3
    inputs, trimmed = fit_inputs(ctx.inputs, budget)
    parts = [instructions.strip()]
    for task_id, text in inputs.items():
        parts.append(f"\n### {task_id}\n{text}")
    if trimmed:
        parts.append(f"\n(Trimmed to fit the context window: {', '.join(trimmed)}.)")
    parts.append(
        "\nAnswer with one JSON value, and nothing else, that conforms to this JSON Schema:\n"
        + json.dumps(schema, sort_keys=True)
    )
    prompt, problem = "\n".join(parts), ""
    if ctx.steps_left < 1:
        raise BudgetExceeded(
            f"no step left for the model pass (allowance {ctx.allowance})",
            hint="raise the task's max_steps: each model-written part takes up to 2 steps",
        )
    for _ in range(REASKS + 1):
        if ctx.steps_left < 1:
            break
        asked = (
            prompt if not problem else f"{prompt}\n\nYour previous answer was rejected: {problem}"
        )
        response = await ctx.call_model(ctx.request(asked, json_schema=schema))
        verdict = check_output(response.text, schema)
        if verdict is None:
            return loads_json(extract_json(response.text))
        problem = verdict
    raise OutputError(f"the model's JSON was still invalid: {problem or 'no steps left'}")

"""What a run may be given besides its plan, and the checks made before anything runs.

:class:`RunSettings` are the keyword arguments of :meth:`Swarm.execute`, :meth:`Swarm.start`
and :meth:`Swarm.submit` (the CLI's flags map onto them one to one). :func:`prepare` turns a
plan and those settings into the plan that will run and its :class:`RunOptions`, refusing bad
input with a :class:`ConfigError` before the database is touched or a model is called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, get_args

from pydantic import ValidationError

from swarm.errors import ConfigError, PlanError
from swarm.plan import Plan, ReasoningEffort, RunBudget
from swarm.providers.pricing import PRICE_HINT, check_priced, price_table, unpriced
from swarm.runtime.run import RunOptions, plan_models
from swarm.validation import budget_problems

_BUDGET_FIELDS = {
    "concurrency": "max_concurrency",
    "max_steps": "max_steps",
    "max_tokens": "max_tokens",
    "max_cost": "max_cost_usd",
}
_FLAGS = {"max_cost_usd": "max_cost", "max_concurrency": "concurrency"}


class RunSettings(TypedDict, total=False):
    """Settings of one run; each overrides the plan's own value where the plan has one."""

    run_id: str
    """The new run's id (letters, digits, ``-`` and ``_``); a fresh one if not given."""
    fail_fast: bool
    """Stop the run at the first failed task."""
    concurrency: int
    """Tasks running at once (the plan's ``budget.max_concurrency``)."""
    max_steps: int
    """The swarm-wide step pool (``budget.max_steps``)."""
    max_tokens: int
    """Run-wide token budget (``budget.max_tokens``)."""
    max_cost: float
    """Run-wide budget in US$ (``budget.max_cost_usd``); must be positive: leave it out for no
    dollar limit. Refused if a model of the plan has no known price."""
    model: str
    """Model of every task that does not name its own (``defaults.model``)."""
    reasoning_effort: str
    """``none``, ``low``, ``medium`` or ``high`` (``defaults.params.reasoning_effort``)."""
    max_replans: int
    """Revisions of failed branches the planner may make (0: none)."""
    prices: Mapping[str, tuple[float, float]]
    """model → (input, output) US$ per million tokens, over the built-in table."""
    executor: str
    """Where attempts run: ``local`` (this process, the default) or ``ray`` (a Ray cluster;
    needs the ``ray`` extra)."""
    ray_address: str
    """An existing Ray cluster's address, ``host:port`` (else ``SWARM_RAY_ADDRESS``, else a
    local cluster started for the run)."""
    ray_kinds: Sequence[str]
    """The kinds whose attempts run on the cluster (default: ``code``)."""


@dataclass(frozen=True)
class Prepared:
    """A plan ready to run, with its options and what the caller should be warned about."""

    plan: Plan
    options: RunOptions
    run_id: str | None
    warnings: tuple[str, ...]


def budget_overrides(settings: RunSettings) -> dict[str, Any]:
    """The plan budget fields the settings replace."""
    given: Mapping[str, Any] = settings
    return {
        field: given[key] for key, field in _BUDGET_FIELDS.items() if given.get(key) is not None
    }


def with_budget(plan: Plan, budget: Mapping[str, Any] | None) -> Plan:
    """``plan`` with some fields of its budget replaced, validated like a plan file's (a bad
    value is a :class:`ConfigError` naming the setting, never a pydantic traceback)."""
    if not budget:
        return plan
    return plan.model_copy(update={"budget": merged_budget(plan.budget, budget)})


def merged_budget(current: RunBudget, budget: Mapping[str, Any]) -> RunBudget:
    """``current`` with ``budget``'s fields replaced, validated; see :func:`with_budget`."""
    cost = budget.get("max_cost_usd")
    if cost is not None and not cost > 0:
        raise ConfigError(
            f"max_cost {cost:g}: a cost budget must be a positive amount of US$",
            hint="use a positive amount, or leave the cost budget out for no dollar limit",
            cli_hint="use a positive amount (e.g. --max-cost 0.5), or omit the flag for no "
            "dollar limit",
        )
    try:
        return current.model_validate({**current.model_dump(), **budget})
    except ValidationError as exc:
        problems = "; ".join(
            f"{_FLAGS.get(str(e['loc'][0]), e['loc'][0])}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"bad run budget: {problems}") from None


def check_run_id(run_id: str | None) -> None:
    if run_id is not None and not (run_id and run_id.replace("-", "").replace("_", "").isalnum()):
        raise ConfigError(
            f"run id {run_id!r}: use letters, digits, '-' and '_' only",
            cli_hint="e.g. --run-id nightly-2026-12-04",
        )


def with_model(plan: Plan, model: str | None, reasoning_effort: str | None) -> Plan:
    """``model`` and ``reasoning_effort`` replace the plan's defaults (tasks that set their own
    keep them); the stored plan carries them, so a resume uses them too."""
    if model is None and reasoning_effort is None:
        return plan
    efforts = get_args(ReasoningEffort)
    if reasoning_effort is not None and reasoning_effort not in efforts:
        raise ConfigError(
            f"reasoning effort {reasoning_effort!r} is not one of {', '.join(efforts)}"
        )
    defaults = plan.defaults
    if reasoning_effort is not None:
        params = defaults.params.model_copy(update={"reasoning_effort": reasoning_effort})
        defaults = defaults.model_copy(update={"params": params})
    if model is not None:
        if not model.strip():
            raise ConfigError("the model name is empty", hint="e.g. moonshotai/kimi-k2.6")
        defaults = defaults.model_copy(update={"model": model.strip()})
    return plan.model_copy(update={"defaults": defaults})


def check_artifacts_dir(folder: Path) -> None:
    """The runs' folder must be a folder this process can write (or create), checked before a
    model is paid for: a task's files are written only once it has run."""
    folder = folder.expanduser().absolute()
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        what = "is not a folder" if probe == folder else f"is inside {probe}, which is not a folder"
        raise ConfigError(
            f"artifacts folder {folder} {what}",
            hint="give a folder (it is created if missing)",
            cli_hint="give --artifacts-dir a folder (it is created if missing)",
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(
            f"artifacts folder {folder}: {probe} is not writable by this user",
            hint="choose a folder you can write",
            cli_hint="choose a folder you can write with --artifacts-dir",
        )


def prepare(
    plan: Plan,
    settings: RunSettings,
    *,
    provider: str,
    artifacts_dir: Path,
    base_url: str | None,
    rate_limit: int | None,
) -> Prepared:
    """The plan as it will run and its options; every check that can fail before a run does."""
    run_id = settings.get("run_id")
    check_run_id(run_id)
    plan = with_budget(plan, budget_overrides(settings))
    plan = with_model(plan, settings.get("model"), settings.get("reasoning_effort"))
    prices = {m: (float(p[0]), float(p[1])) for m, p in (settings.get("prices") or {}).items()}
    table = price_table(overrides=prices)
    check_priced(table, plan_models(plan), plan.budget.max_cost_usd)
    problems = budget_problems(plan, table)  # the budget the run will have, at its cheapest
    if problems:
        raise PlanError("plan", problems)
    check_artifacts_dir(artifacts_dir)
    executor, address, kinds = executor_settings(settings)
    options = RunOptions(
        provider=provider,
        fail_fast=bool(settings.get("fail_fast", False)),
        artifacts_dir=str(artifacts_dir.expanduser().resolve()),
        model=settings.get("model"),
        base_url=base_url,
        rate_limit=rate_limit,
        max_replans=int(settings.get("max_replans", 0)),
        prices=prices,
        executor=executor,
        ray_address=address,
        ray_kinds=kinds,
    )
    warnings = tuple(
        f"no price is known for model {m!r}: est. cost leaves its calls out ({PRICE_HINT})"
        for m in unpriced(table, plan_models(plan))
    )
    return Prepared(plan, options, run_id, warnings)


def executor_settings(settings: RunSettings) -> tuple[str, str | None, tuple[str, ...]]:
    """The executor, Ray address and shipped kinds, checked (Ray installed, the address
    answering, kinds that can run remotely) before anything is written."""
    executor = settings.get("executor") or "local"
    if executor == "local":
        return "local", None, ("code",)
    if executor != "ray":
        raise ConfigError(
            f"executor {executor!r} is not one of local, ray",
            cli_hint="use --executor local (the default) or --executor ray",
        )
    from swarm.runtime import ray_executor as rx  # Ray itself is imported only by the run

    kinds = tuple(sorted(rx.check_kinds(settings.get("ray_kinds") or ("code",))))
    if not rx.ray_installed():
        raise ConfigError(
            "the ray executor needs Ray, which is not installed", hint=rx.INSTALL_HINT
        )
    address = settings.get("ray_address") or os.environ.get("SWARM_RAY_ADDRESS") or None
    if address is not None:
        rx.check_address(address)
    return "ray", address, kinds

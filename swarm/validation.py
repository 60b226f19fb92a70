"""Whole-plan validation: the plan's fields, its DAG, each task kind's own rules, its limits
and budgets, all reported together.

A valid plan is checked without the plan models: the committed JSON Schema vouches for its
fields and fills its defaults (:mod:`swarm.plan_schema`), and every other check reads that
JSON document, so `swarm validate` never imports pydantic for it. Data the schema cannot vouch
for goes to the plan models, which word its problems (or accept what only they accept).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from swarm.errors import PlanError, Problem
from swarm.plan_file import read_plan_file
from swarm.plan_schema import fill_plan, fill_task
from swarm.task_fields import TaskDoc, TaskFields

if TYPE_CHECKING:
    from swarm.plan import Plan
    from swarm.providers.pricing import Price

PlanDoc: TypeAlias = dict[str, Any]
"""A checked plan as JSON with every default filled in, as ``Plan.model_dump()`` gives it."""

SERVER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,31}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


def kind_problems(raw: dict[str, Any], doc: PlanDoc | None = None) -> list[Problem]:
    """Each task kind's checks, run on every task that is well-formed on its own (``doc``: the
    plan's checked document, whose tasks are filled in already). The plug-ins are looked up
    only for a kind that is not built in."""
    from workers.registry import BUILTIN, registry, rules_for

    problems: list[Problem] = []
    tasks = raw.get("tasks")
    tasks = tasks if isinstance(tasks, list) else []
    for index, item in enumerate(tasks):
        filled = doc["tasks"][index] if doc is not None else fill_task(item)
        spec: TaskFields | None = TaskDoc.of(filled) if filled is not None else _model_task(item)
        if spec is None:
            continue  # its problems are reported by the plan model
        rules = rules_for(spec.kind)
        if rules is not None:
            problems.extend(rules(spec))
        elif spec.kind in registry():  # a plug-in kind: its worker checks the model's task
            model_task = _model_task(item)
            if model_task is not None:
                problems.extend(registry()[spec.kind].check(model_task))
    budget = raw.get("budget")
    per_kind = budget.get("per_kind_concurrency") if isinstance(budget, dict) else None
    for kind in per_kind if isinstance(per_kind, dict) else {}:
        if kind not in BUILTIN and kind not in registry():
            field = f"budget.per_kind_concurrency.{kind}"
            problems.append(Problem("plan", field, f"unknown kind {kind!r}"))
    return problems


def _model_task(item: object) -> Any:
    """The plan model's task for ``item`` (a :class:`~swarm.plan.TaskSpec`), or None if it is
    not one."""
    from pydantic import ValidationError

    from swarm.plan import TaskSpec

    try:
        return TaskSpec.model_validate(item)
    except ValidationError:
        return None


def tool_problems(raw: dict[str, Any]) -> list[Problem]:
    """MCP server names and their variable names, and each task's ``tools`` globs: every glob
    is ``fetch`` or ``server.tool`` with a server part that names a declared server."""
    servers = raw.get("mcp_servers")
    servers = servers if isinstance(servers, dict) else {}
    problems: list[Problem] = []
    for name, server in servers.items():
        if not re.match(SERVER_NAME_PATTERN, str(name)):
            message = "a server name is a letter then letters, digits, _ or - (32 at most)"
            problems.append(Problem("plan", f"mcp_servers.{name}", message))
        names = server.get("env", []) if isinstance(server, dict) else []
        names += list((server.get("headers") or {}).values()) if isinstance(server, dict) else []
        for var in names:
            if not isinstance(var, str) or not re.match(ENV_NAME_PATTERN, var):
                message = f"{var!r} is not an environment variable name (give names, not values)"
                problems.append(Problem("plan", f"mcp_servers.{name}", message))
    tasks = raw.get("tasks")
    for item in tasks if isinstance(tasks, list) else []:
        if isinstance(item, dict) and isinstance(item.get("tools"), list):
            problems.extend(_glob_problems(item, list(servers)))
    return problems


def _glob_problems(task: dict[str, Any], servers: list[str]) -> list[Problem]:
    where = f"task {task.get('id')!r}"
    if task["tools"] and task.get("kind") not in ("agent", "orchestrator"):
        message = "only agent and orchestrator tasks call tools; remove the list"
        return [Problem(where, "tools", message)]
    problems = []
    for glob in task["tools"]:
        if not isinstance(glob, str):
            continue  # the plan model reports it
        if fnmatch.fnmatchcase("fetch", glob) and "." not in glob:
            continue
        server = glob.split(".", 1)[0]
        if "." not in glob or not any(fnmatch.fnmatchcase(s, server) for s in servers):
            known = ", ".join(servers) or "none declared"
            message = (
                f"{glob!r} names no MCP server of the plan (servers: {known}); "
                "write server.tool globs such as 'kb.*', or 'fetch'"
            )
            problems.append(Problem(where, "tools", message))
    return problems


def limit_problems(doc: PlanDoc) -> list[Problem]:
    """A task's step allowance over the run's step pool, a per-kind limit under one."""
    problems = []
    pool = doc["budget"]["max_steps"]
    for spec in doc["tasks"]:
        steps = spec["max_steps"] or doc["defaults"]["max_steps"]
        if steps is not None and steps > pool:
            problems.append(
                Problem(
                    f"task {spec['id']!r}",
                    "max_steps",
                    f"allowance {steps} exceeds the run's step pool budget.max_steps={pool}",
                )
            )
    for kind, limit in doc["budget"]["per_kind_concurrency"].items():
        if limit < 1:
            problems.append(
                Problem("plan", f"budget.per_kind_concurrency.{kind}", "must be at least 1")
            )
    return problems


def check_data(raw: dict[str, Any], *, source: str = "plan") -> PlanDoc:
    """Validate decoded plan data with every check; the plan's JSON document with its defaults
    filled in, or one PlanError listing every problem. Pydantic is imported only if the
    plan's JSON Schema cannot vouch for ``raw``."""
    return _checked(raw, source)[0]


def _known_kinds(raw: dict[str, Any]) -> set[str] | None:
    """Every kind a task may name, or None when ``raw`` names built-in kinds only: then none is
    unknown, and the plug-ins' entry points (a read of every installed package's metadata, the
    largest part of `swarm validate`'s start) are not looked up."""
    from workers.registry import BUILTIN, known_kinds

    tasks = raw.get("tasks")
    named = {t.get("kind") for t in tasks if isinstance(t, dict)} if isinstance(tasks, list) else ()
    return None if all(kind in BUILTIN for kind in named) else known_kinds()


def _checked(raw: dict[str, Any], source: str) -> tuple[PlanDoc, Plan | None]:
    """The checked document, and the plan model if it had to be built."""
    from swarm.dag import graph_problems

    problems: list[Problem] = []
    plan: Plan | None = None
    doc = fill_plan(raw)
    if doc is None:
        from swarm.plan import parse_plan

        try:
            plan = parse_plan(raw, source=source, known_kinds=_known_kinds(raw))
            doc = plan.model_dump()
        except PlanError as exc:
            problems.extend(exc.problems)
    else:
        problems.extend(graph_problems(raw, known_kinds=_known_kinds(raw)))
        problems.extend(p for p in limit_problems(doc) if p not in problems)
    problems.extend(p for p in kind_problems(raw, doc) if p not in problems)
    problems.extend(p for p in tool_problems(raw) if p not in problems)
    if problems:
        raise PlanError(source, [did_you_mean(p) for p in problems])
    assert doc is not None
    return doc, plan


def validate_data(raw: dict[str, Any], *, source: str = "plan") -> Plan:
    """Validate decoded plan data with every check; one PlanError lists all problems."""
    from swarm.plan import Plan

    _, plan = _checked(raw, source)
    return plan if plan is not None else Plan.model_validate(raw)


def validate_file(path: str | Path) -> Plan:
    """Read a plan file and validate it with every check."""
    return validate_data(read_plan_file(path), source=str(path))


def check_file(path: str | Path) -> PlanDoc:
    """Read a plan file and check it with every check, without the plan models if it is valid."""
    return check_data(read_plan_file(path), source=str(path))


MODEL_CALLING_KINDS = frozenset({"llm", "agent"})
"""Kinds whose every task makes at least one model call, hence uses at least one step."""
MAX_CHARS_PER_TOKEN = 16
"""No tokenizer in use packs more characters than this into one token on ordinary text, so a
prompt of N characters is at least N / 16 input tokens: a lower bound, not an estimate."""


def _doc(plan: Plan | PlanDoc) -> PlanDoc:
    return plan if isinstance(plan, dict) else plan.model_dump()


def min_usage(plan: Plan | PlanDoc) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """What ``plan`` (the model or its JSON document) needs at the very least: steps, tokens,
    and per model (tokens in, out).

    Each task of a kind in :data:`MODEL_CALLING_KINDS` makes one model call at least: one step,
    its prompt's tokens in and one token out. Retries, re-asks and the answers' real length only
    add to it.
    """
    doc = _doc(plan)
    defaults = doc["defaults"]
    steps = tokens = 0
    per_model: dict[str, tuple[int, int]] = {}
    for spec in doc["tasks"]:
        if spec["kind"] not in MODEL_CALLING_KINDS:
            continue
        system = (spec["params"] or {}).get("system_prompt")  # the task's own, if it sets one
        if system is None:
            system = defaults["params"]["system_prompt"]
        text = spec["prompt"] + (system or "")
        tokens_in = -(-len(text) // MAX_CHARS_PER_TOKEN)
        model = spec["model"] or defaults["model"]
        seen_in, seen_out = per_model.get(model, (0, 0))
        per_model[model] = (seen_in + tokens_in, seen_out + 1)
        steps += 1
        tokens += tokens_in + 1
    return steps, tokens, per_model


def budget_problems(
    plan: Plan | PlanDoc, prices: Mapping[str, Price] | None = None
) -> list[Problem]:
    """The budgets ``plan`` (the model or its JSON document) cannot fit even at its cheapest
    (its step pool, ``max_tokens``, ``max_cost_usd``), each naming the field to raise; empty if
    it may fit.

    A run of such a plan would spend its budget and then fail the tasks left over, so
    `swarm validate` and `swarm execute` refuse it before anything runs. ``prices`` (model ->
    price) defaults to :func:`swarm.providers.pricing.price_table`; models without a price
    are left out of the cost bound rather than guessed.
    """
    from swarm.core.money import usd

    doc = _doc(plan)
    steps, tokens, per_model = min_usage(doc)
    budget, problems = doc["budget"], []
    pool = budget["max_steps"]
    if steps > pool:
        problems.append(
            Problem(
                "plan",
                "budget.max_steps",
                f"the plan needs at least {steps} steps (one model call for each of its {steps} "
                f"{'/'.join(sorted(MODEL_CALLING_KINDS))} tasks) but the step pool is "
                f"{pool}: raise budget.max_steps (or --max-steps) to {steps} or more",
            )
        )
    if budget["max_tokens"] is not None and tokens > budget["max_tokens"]:
        problems.append(
            Problem(
                "plan",
                "budget.max_tokens",
                f"the plan needs at least {tokens:,} tokens (its prompts, one answer token each) "
                f"but budget.max_tokens is {budget['max_tokens']:,}: raise budget.max_tokens "
                "(or --max-tokens)",
            )
        )
    limit = budget["max_cost_usd"]
    if limit is not None:
        if prices is None:
            from swarm.providers.pricing import price_table

            prices = price_table()
        cost = sum(
            prices[model].cost(tokens_in, tokens_out)
            for model, (tokens_in, tokens_out) in per_model.items()
            if model in prices
        )
        if cost > limit:
            problems.append(
                Problem(
                    "plan",
                    "budget.max_cost_usd",
                    f"the plan costs at least {usd(cost)} (its prompts, one answer token each) "
                    f"but budget.max_cost_usd is {usd(limit)}: raise "
                    "budget.max_cost_usd (or --max-cost)",
                )
            )
    return problems


def check_budget(plan: Plan, *, source: str = "plan") -> Plan:
    """``plan`` if it may fit its budgets, else a PlanError (exit 2) naming each budget field to
    raise; call it with the budget the run will have (after any overrides), before it starts."""
    problems = budget_problems(plan)
    if problems:
        raise PlanError(source, problems)
    return plan


# -- plain words ------------------------------------------------------------------------------

_PLAIN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Field required$"), "is required"),
    (re.compile(r"^Input should be a valid integer.*"), "must be a whole number"),
    (re.compile(r"^Input should be a valid number.*"), "must be a number"),
    (re.compile(r"^Input should be a valid string.*"), "must be text (a JSON string)"),
    (re.compile(r"^Input should be a valid boolean.*"), "must be true or false"),
    (re.compile(r"^Input should be a valid list.*"), "must be a list ([...])"),
    (re.compile(r"^Input should be a valid dictionary.*"), "must be an object ({...})"),
    (re.compile(r"^Input should be greater than or equal to (\S+)$"), r"must be at least \1"),
    (re.compile(r"^Input should be greater than (\S+)$"), r"must be more than \1"),
    (re.compile(r"^Input should be less than or equal to (\S+)$"), r"must be at most \1"),
    (re.compile(r"^Input should be less than (\S+)$"), r"must be less than \1"),
    (re.compile(r"^String should have at least 1 character$"), "must not be empty"),
    (re.compile(r"^String should have at most (\d+) characters?$"), r"may be \1 characters long"),
    (re.compile(r"^List should have at least 1 item.*"), "needs at least one item"),
    (re.compile(r"^List should have at most (\d+) items.*"), r"may have at most \1 items"),
    (re.compile(r"^Input should be (('[^']*'(, | or )?)+)$"), r"must be one of \1"),
]
_ID_RULE = (
    "must start with a letter or digit and hold only letters, digits and _ . : - "
    "(128 characters at most)"
)


def plain_message(message: str) -> str:
    """A validator message in plain words: pydantic's and the id pattern's texts rewritten."""
    if message.startswith("String should match pattern"):
        return _ID_RULE
    for pattern, words in _PLAIN:
        if pattern.match(message):
            return pattern.sub(words, message)
    return message


def _fields_at(where: str, path: list[str]) -> list[str]:
    """The field names allowed where ``path`` (dotted, without its last part) points."""
    from swarm.plan import ModelParams, Plan, RunBudget, TaskDefaults, TaskSpec

    model: type[Any] = TaskSpec if where != "plan" else Plan
    for part in path:
        field = model.model_fields.get(part)
        nested = {"params": ModelParams, "defaults": TaskDefaults, "budget": RunBudget}
        if field is None or part not in nested:
            return []
        model = nested[part]
    return list(model.model_fields)


def did_you_mean(problem: Problem) -> Problem:
    """An unknown field gets the closest known name (``dep`` -> ``deps``); other problems are
    put in plain words."""
    if not problem.message.startswith("unknown field"):
        return Problem(problem.where, problem.field, plain_message(problem.message))
    *path, name = problem.field.split(".")
    known = _fields_at(problem.where, path)
    import difflib  # for an unknown field only

    guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not guess:
        guess = [k for k in known if k.startswith(name) or name.startswith(k)][:1]
    if not guess:
        return problem
    hint = ".".join([*path, guess[0]])
    return Problem(problem.where, problem.field, f"unknown field; did you mean {hint!r}?")

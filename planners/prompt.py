"""The planning prompt: what the model is told about the goal, the task kinds, the plan format,
the limits and the line protocol, and the re-asks that quote the validator's exact problems.

The prompt carries a few machine-readable lines (the marker, ``GOAL:``, ``LIMITS:``,
``KINDS:``) so that :func:`read_prompt` can recover what was asked; the sim provider's planner
uses it to answer planning requests offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swarm.errors import Problem
from swarm.plan import plan_json_schema

MARKER = "[swarm-planner v1]"
"""First line of every planning prompt and system prompt: says "this call wants a plan"."""
PREVIOUS_ANSWER_CHARS = 12_000
"""How much of a rejected answer a re-ask quotes back to the model."""
MAX_QUOTED_PROBLEMS = 60


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a plan must respect, as the planner tells them to the model."""

    max_tasks: int = 300
    concurrency: int = 64
    step_pool: int = 4000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class PlanningPrompt:
    """The first request's system prompt and prompt; re-asks extend ``prompt``."""

    system_prompt: str
    prompt: str


SYSTEM_PROMPT = f"""{MARKER}
You are the planner of swarm, an orchestrator that runs a plan (a DAG of subtasks) with many
sub-agents working at the same time. You turn a goal into a plan. You answer with the plan only,
in the line protocol you are given: JSON objects, one per line, no prose, no code fences."""

_HOW_TO_PLAN = """How to plan:
- Split the work so that independent parts run in parallel: a wide, shallow DAG finishes sooner
  than a long chain. Add a dependency only when a task needs another task's result.
- A sub-agent sees only its own task's prompt and the results of its deps. Write every prompt
  so it stands on its own: say what to do, for which part of the goal, and what to return.
- Give an output_schema (a JSON Schema) to tasks whose result other tasks will read as data.
- Give estimate_s (a rough guess of the seconds a task takes) where tasks differ a lot in
  length: the longest chains are started first.
- Finish with one task that assembles the deliverable from the results before it.
- Stay within the limits: fewer, broader tasks are better than a plan that is cut off."""

_PROTOCOL = """Answer in this line protocol, one JSON object per line and nothing else:
1. The header: {"goal": "...", "defaults": {...}, "budget": {...}} ("defaults" and "budget"
   are optional; they take the fields of the schema below).
2. One task per line: {"id": "...", "kind": "...", "prompt": "...", "deps": [...]} and any
   other task field of the schema. deps may only name tasks on EARLIER lines, so every task can
   start as soon as its line is read. Ids are unique: letters, digits, "_", ".", ":", "-".
3. The last line: {"end": true}"""


def _example() -> str:
    lines: list[dict[str, object]] = [
        {"goal": "Compare three open-source vector databases for a small team"},
        {
            "id": "criteria",
            "kind": "llm",
            "prompt": "List the 6 criteria that matter most when a small team picks a vector "
            "database (e.g. ease of operation, filtering, cost). Return a numbered list.",
        },
    ]
    for name in ("qdrant", "weaviate", "milvus"):
        lines.append(
            {
                "id": f"facts-{name}",
                "kind": "llm",
                "prompt": f"Describe {name.title()} against each criterion given. "
                "Return JSON with one entry per criterion.",
                "deps": ["criteria"],
                "output_schema": {
                    "type": "object",
                    "properties": {
                        "entries": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "criterion": {"type": "string"},
                                    "finding": {"type": "string"},
                                },
                                "required": ["criterion", "finding"],
                            },
                        }
                    },
                    "required": ["entries"],
                },
            }
        )
    lines.append(
        {
            "id": "report",
            "kind": "llm",
            "title": "Comparison report",
            "prompt": "Write a one-page comparison with a table (rows: criteria, columns: "
            "databases) and a recommendation for a small team.",
            "deps": ["facts-qdrant", "facts-weaviate", "facts-milvus"],
        }
    )
    lines.append({"end": True})
    return "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)


def build_prompt(goal: str, limits: Limits, kinds: Mapping[str, str]) -> PlanningPrompt:
    """The first planning request: goal, kinds, limits, protocol, worked example and schema."""
    kind_lines = "\n".join(f"- {name}: {text}" for name, text in sorted(kinds.items()))
    schema = json.dumps(plan_json_schema(), separators=(",", ":"))
    prompt = f"""{MARKER}
Turn the goal below into a plan for a swarm of sub-agents.

GOAL: {json.dumps(goal, ensure_ascii=False)}

Task kinds (the "kind" of each task), and what each is for:
KINDS: {", ".join(sorted(kinds))}
{kind_lines}

LIMITS: max_tasks={limits.max_tasks} concurrency={limits.concurrency} \
step_pool={limits.step_pool}
At most {limits.max_tasks} tasks. Up to {limits.concurrency} tasks run at once. The whole run
has a pool of {limits.step_pool} steps (model calls) that all tasks draw from.

{_HOW_TO_PLAN}

{_PROTOCOL}

A worked example (for a different goal):
{_example()}

The JSON Schema of a plan. The header carries its "goal", "defaults" and "budget"; each task
line is one item of its "tasks":
{schema}"""
    return PlanningPrompt(system_prompt=SYSTEM_PROMPT, prompt=prompt)


def _quote(answer: str) -> str:
    if len(answer) <= PREVIOUS_ANSWER_CHARS:
        return answer
    return (
        answer[:PREVIOUS_ANSWER_CHARS] + f"\n… ({len(answer) - PREVIOUS_ANSWER_CHARS} more chars)"
    )


def problem_lines(problems: Sequence[Problem]) -> str:
    """The validator's problems, one per line, exactly as it words them (capped in number)."""
    shown = [f"- {p}" for p in problems[:MAX_QUOTED_PROBLEMS]]
    if len(problems) > MAX_QUOTED_PROBLEMS:
        shown.append(f"- … and {len(problems) - MAX_QUOTED_PROBLEMS} more problems")
    return "\n".join(shown)


def repair_prompt(base: PlanningPrompt, answer: str, problems: Sequence[Problem]) -> str:
    """A re-ask for a whole new plan, quoting the rejected answer and every problem found."""
    return f"""{base.prompt}

Your previous answer could not be used. The validator found these problems:
{problem_lines(problems)}

Your previous answer was:
<previous_answer>
{_quote(answer)}
</previous_answer>

Write the whole plan again in the line protocol, fixing every problem above. If the answer was
cut off, make the plan smaller: fewer tasks and shorter prompts."""


def continuation_prompt(
    base: PlanningPrompt,
    answer: str,
    problems: Sequence[Problem],
    accepted: Sequence[str],
    limits: Limits,
) -> str:
    """A re-ask while streaming: the accepted tasks may already run, so they stay as they are
    and the model sends only what is missing or was rejected."""
    ids = ", ".join(accepted)
    room = limits.max_tasks - len(accepted)
    ask = (
        f"Continue the plan with at most {room} more tasks: send the task lines that are "
        'still missing or were rejected (corrected), then {"end": true}. Their deps may name '
        "the accepted tasks."
        if room > 0
        else f"The plan already has the most tasks allowed ({limits.max_tasks}): send only "
        'the end line {"end": true}.'
    )
    return f"""{base.prompt}

Your previous answer was read line by line. The header and these {len(accepted)} tasks were
accepted and may already be running, so they cannot change: {ids}

The validator found these problems:
{problem_lines(problems)}

Your previous answer was:
<previous_answer>
{_quote(answer)}
</previous_answer>

{ask} Repeating the header or an accepted line unchanged is harmless;
changing one is not allowed."""


@dataclass(frozen=True, slots=True)
class PromptFacts:
    """What :func:`read_prompt` recovers from a planning prompt."""

    goal: str
    limits: Limits
    kinds: tuple[str, ...]


_LIMITS_RE = re.compile(r"^LIMITS: max_tasks=(\d+) concurrency=(\d+) step_pool=(\d+)$", re.M)


def is_planning_prompt(system_prompt: str | None, prompt: str) -> bool:
    return (system_prompt or "").startswith(MARKER) or prompt.startswith(MARKER)


def read_prompt(prompt: str) -> PromptFacts | None:
    """Goal, limits and kinds of a prompt made by :func:`build_prompt` (or a re-ask built on
    it); ``None`` if the prompt is not one."""
    if not prompt.startswith(MARKER):
        return None
    goal_line = re.search(r"^GOAL: (.*)$", prompt, re.M)
    kinds_line = re.search(r"^KINDS: (.*)$", prompt, re.M)
    limits = _LIMITS_RE.search(prompt)
    if goal_line is None or kinds_line is None or limits is None:
        return None
    try:
        goal = json.loads(goal_line.group(1))
    except json.JSONDecodeError:
        return None
    if not isinstance(goal, str):
        return None
    kinds = tuple(k.strip() for k in kinds_line.group(1).split(",") if k.strip())
    max_tasks, concurrency, step_pool = (int(x) for x in limits.groups())
    return PromptFacts(goal, Limits(max_tasks, concurrency, step_pool), kinds)

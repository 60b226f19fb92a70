"""The sim provider's planner: a deterministic, plausible plan for any goal, offline.

When the sim sees a planning prompt (see :mod:`planners.prompt`) it answers in the line
protocol with a research-style DAG derived from the goal's words: a scoping task, a fan-out of
``llm`` research tasks per subtopic (one per subtopic with an ``output_schema``), a synthesis
per subtopic and a final report. The size follows the prompt's ``max_tasks``. The same goal
and limits always give the same plan, and its goal is labelled simulated.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

from planners.prompt import Limits, is_planning_prompt, read_prompt
from swarm.providers.base import ModelRequest

SIM_PLAN_LABEL = "[simulated plan]"
FACETS = (
    "background",
    "current state",
    "key players",
    "costs and economics",
    "risks",
    "evidence",
    "open questions",
    "outlook",
    "methods",
    "case studies",
    "regulation",
    "data sources",
)
ANGLES = (
    "recent figures and facts",
    "primary sources",
    "expert and practitioner views",
    "counter-evidence and caveats",
    "how it changed over time",
    "comparisons with alternatives",
    "concrete examples",
)
_STOP_WORDS = (
    "the a an and or of for to in on at by with from into about what which how why who whom is "
    "are be been was were this that these those it its as than then our your their my we you "
    "they can should would could will do does did has have had not but all any some more most "
    "best between versus over under per make write find give show tell use using compare "
    "comparing analyse analyze explain describe research plan create build summarise summarize "
    "evaluate assess review investigate study list identify determine understand"
)
_STOP = frozenset(_STOP_WORDS.split())
FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "sources": {"type": "array", "items": {"type": "string"}},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["findings", "confidence"],
}


TALLY_CODE = """\
import json, sys
results = [r for r in json.load(sys.stdin).values() if isinstance(r, dict)]
confidence = [r["confidence"] for r in results if isinstance(r.get("confidence"), (int, float))]
print(json.dumps({
    "sources": len(results),
    "findings": sum(len(r.get("findings") or []) for r in results),
    "mean_confidence": round(sum(confidence) / len(confidence), 3) if confidence else None,
}))
"""


def is_planning_request(request: ModelRequest) -> bool:
    return is_planning_prompt(request.system_prompt, request.prompt)


def subjects(goal: str) -> list[str]:
    """The goal's subjects: runs of up to three consecutive content words, in order."""
    found: list[str] = []
    run: list[str] = []
    for word in [*re.findall(r"[^\W_]+", goal.lower()), ""]:
        if len(word) >= 2 and word not in _STOP and len(run) < 3:
            run.append(word)
            continue
        phrase = " ".join(run)
        if phrase and phrase not in found:
            found.append(phrase)
        run = [word] if len(word) >= 2 and word not in _STOP else []
    return found or ["the goal"]


def plan_lines(
    goal: str, limits: Limits, kinds: tuple[str, ...] = ("llm",)
) -> list[dict[str, Any]]:
    """The header, the tasks and the end line of the simulated plan for ``goal``; with the
    ``code`` kind available, a code task also tallies the structured findings."""
    seed = hashlib.blake2b(goal.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    rng = random.Random(seed)
    header = {
        "goal": f"{SIM_PLAN_LABEL} {goal}",
        "budget": {"max_steps": limits.step_pool, "max_concurrency": limits.concurrency},
    }
    tally = "code" in kinds and limits.max_tasks >= 5
    return [header, *_tasks(goal, limits.max_tasks, rng, tally), {"end": True}]


def _tasks(goal: str, max_tasks: int, rng: random.Random, tally: bool) -> list[dict[str, Any]]:
    if max_tasks < 4:
        return _small(goal, max_tasks)
    target = min(max_tasks, 8 + max_tasks // 4)
    fixed = 3 if tally else 2  # scope, report and the tally
    topics = max(1, min(rng.randint(3, 8), (target - fixed) // 2))
    per_topic = (target - fixed) // topics  # research tasks plus one synthesis
    words = subjects(goal)
    facet0 = rng.randrange(len(FACETS))
    tasks: list[dict[str, Any]] = [
        {
            "id": "scope",
            "kind": "llm",
            "title": "Scope the work",
            "prompt": f"Goal: {goal}\nList the questions a thorough answer must settle, the "
            "terms to define, and what is out of scope. Return a short numbered list.",
        }
    ]
    syntheses, structured = [], []
    for t in range(topics):
        facet = FACETS[(facet0 + t) % len(FACETS)]
        topic = f"{facet} of {words[t % len(words)]}"
        research = max(1, per_topic - 1 - rng.randint(0, 1))
        ids = []
        for r in range(research):
            angle = ANGLES[(t + r) % len(ANGLES)]
            task: dict[str, Any] = {
                "id": f"t{t + 1}-r{r + 1}",
                "kind": "llm",
                "title": f"Research {topic}: {angle}",
                "prompt": f"Goal: {goal}\nResearch the {topic}, focusing on {angle}. Use the "
                "scope you are given; report findings with their sources.",
                "deps": ["scope"],
            }
            if r == 0:
                task["output_schema"] = FINDINGS_SCHEMA
                structured.append(task["id"])
            ids.append(task["id"])
            tasks.append(task)
        syntheses.append(f"t{t + 1}-synth")
        tasks.append(
            {
                "id": f"t{t + 1}-synth",
                "kind": "llm",
                "title": f"Synthesis: {topic}",
                "prompt": f"Goal: {goal}\nCombine the research on the {topic} into one "
                "section: the main points, where sources disagree, and what stays uncertain.",
                "deps": ids,
            }
        )
    if tally:
        tasks.append(
            {
                "id": "tally",
                "kind": "code",
                "title": "Tally the structured findings",
                "deps": structured,
                "config": {"code": TALLY_CODE},
            }
        )
    tasks.append(_report(goal, [*syntheses, "tally"] if tally else syntheses))
    return tasks


def _small(goal: str, max_tasks: int) -> list[dict[str, Any]]:
    """A chain for very small limits: scope, research, report (as many as fit)."""
    chain = [
        ("scope", f"Goal: {goal}\nList the questions a good answer must settle."),
        ("research", f"Goal: {goal}\nResearch the questions you are given, with sources."),
    ][: max_tasks - 1]
    tasks: list[dict[str, Any]] = []
    for task_id, prompt in chain:
        deps = [tasks[-1]["id"]] if tasks else []
        tasks.append({"id": task_id, "kind": "llm", "prompt": prompt, "deps": deps})
    tasks.append(_report(goal, [tasks[-1]["id"]] if tasks else []))
    return tasks


def _report(goal: str, deps: list[str]) -> dict[str, Any]:
    return {
        "id": "report",
        "kind": "llm",
        "title": "Final report",
        "prompt": f"Goal: {goal}\nWrite the final report from the sections you are given: a "
        "summary first, then one part per section, then open questions.",
        "deps": deps,
    }


def answer(request: ModelRequest, *, malformed: bool = False) -> str:
    """The sim's answer to a planning request: the plan in the line protocol. ``malformed``
    (an injected fault) cuts the answer off half-way, as a model hitting max_tokens would."""
    facts = read_prompt(request.prompt)
    if facts is None:
        return 'I can only plan from a swarm planning prompt.\n{"end": true}\n'
    lines = plan_lines(facts.goal, facts.limits, facts.kinds)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    return text[: len(text) // 2] if malformed else text

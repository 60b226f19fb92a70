"""The ``document`` kind's checks: the aggregator settings, ``formats``, ``outline``, ``intro``."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields
from workers.rules.common import choice_problems, common_problems

FORMATS = ("md", "html", "docx")


def check(spec: TaskFields) -> list[Problem]:
    where = f"task {spec.id!r}"
    problems = common_problems(spec, {"outline", "formats", "intro"})
    problems += choice_problems(spec, "formats", FORMATS)
    outline = spec.config.get("outline", [])
    if not isinstance(outline, list) or not all(isinstance(h, str) and h.strip() for h in outline):
        problems.append(Problem(where, "config.outline", "must be a list of headings"))
    if not isinstance(spec.config.get("intro", ""), str):
        problems.append(Problem(where, "config.intro", "must be a string"))
    return problems

"""The ``image`` kind's checks, and the choices its settings offer (which the text-to-image
provider takes as they are)."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields
from workers.rules.common import name_problem, positive_int

ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
FORMATS = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
"""Each ``format`` and the type of the file it is."""
MAX_IMAGES = 4
KEYS = {"count", "aspect_ratio", "format", "seed", "alt", "filename"}


def check(spec: TaskFields) -> list[Problem]:
    where, cfg = f"task {spec.id!r}", spec.config
    problems = []
    if unknown := sorted(set(cfg) - KEYS):
        problems.append(Problem(where, "config", f"unknown keys for image: {unknown}"))
    if not spec.prompt.strip():
        problems.append(Problem(where, "prompt", "an image task needs a prompt describing it"))
    problems += positive_int(spec, "count", 1, MAX_IMAGES)
    if cfg.get("aspect_ratio", "1:1") not in ASPECT_RATIOS:
        problems.append(
            Problem(where, "config.aspect_ratio", f"must be one of {', '.join(ASPECT_RATIOS)}")
        )
    if cfg.get("format", "png") not in FORMATS:
        problems.append(Problem(where, "config.format", f"must be one of {sorted(FORMATS)}"))
    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append(Problem(where, "config.seed", "must be an integer"))
    if not isinstance(cfg.get("alt", ""), str):
        problems.append(Problem(where, "config.alt", "must be a string"))
    if "filename" in cfg and (message := name_problem(cfg["filename"])):
        problems.append(Problem(where, "config.filename", message))
    return problems

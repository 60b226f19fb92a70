"""The ``map`` kind: fan out over a list an upstream task produced, one task per item from a
template, then join the items' results in order.

A map task runs twice. First it reads the list (``config.over`` names the dependency whose
result holds it, ``config.path`` optionally picks a key inside a JSON object) and asks the
runtime to add one task per item, ``<map id>:<index>``, built from ``config.template`` with
``{item}`` and ``{index}`` substituted in its prompt. The runtime records the new tasks (so a
resumed run sees the same expansion), makes the map task wait for them, and runs it again: then
it returns the items' results as one JSON array, which its own dependents receive.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import ValidationError

from swarm.errors import Problem, TaskError
from swarm.plan import TaskSpec
from workers.base import TaskContext

DEFAULT_MAX_ITEMS = 1000
TEMPLATE_FORBIDDEN = {"id", "deps"}


def child_id(map_id: str, index: int) -> str:
    return f"{map_id}:{index:04d}"


class MapWorker:
    kind: ClassVar[str] = "map"
    description: ClassVar[str] = (
        "fan out over a JSON list from a dependency: one task per item from a template, "
        "then the items' results joined into one JSON array"
    )
    default_steps: ClassVar[int] = 1

    def check(self, spec: TaskSpec) -> list[Problem]:
        where = f"task {spec.id!r}"
        cfg = spec.config
        problems = []
        unknown = set(cfg) - {"over", "template", "path", "max_items"}
        if unknown:
            problems.append(Problem(where, "config", f"unknown keys for map: {sorted(unknown)}"))
        over = cfg.get("over")
        if not isinstance(over, str) or over not in spec.deps:
            problems.append(
                Problem(
                    where, "config.over", "must name one of the task's deps (the list's source)"
                )
            )
        template = cfg.get("template")
        if not isinstance(template, dict):
            problems.append(Problem(where, "config.template", "must be a task object"))
        else:
            bad = TEMPLATE_FORBIDDEN & set(template)
            if bad:
                problems.append(
                    Problem(where, "config.template", f"may not set {sorted(bad)}: they are given")
                )
            try:
                TaskSpec.model_validate({**template, "id": child_id(spec.id, 0)})
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                loc = ".".join(str(p) for p in first["loc"])
                problems.append(Problem(where, f"config.template.{loc}", first["msg"]))
        max_items = cfg.get("max_items", DEFAULT_MAX_ITEMS)
        if not isinstance(max_items, int) or isinstance(max_items, bool) or max_items < 1:
            problems.append(Problem(where, "config.max_items", "must be a positive integer"))
        return problems

    async def run(self, ctx: TaskContext) -> str:
        prefix = f"{ctx.spec.id}:"
        joined = sorted(k for k in ctx.inputs if k.startswith(prefix))
        if joined:
            return json.dumps([_as_json(ctx.inputs[k]) for k in joined], ensure_ascii=False)
        items = self._items(ctx)
        ctx.expansion.extend(self._child(ctx.spec, i, item) for i, item in enumerate(items))
        return "[]"  # used only when there are no items: nothing to wait for

    def _items(self, ctx: TaskContext) -> list[Any]:
        cfg = ctx.spec.config
        source = str(cfg["over"])
        try:
            value = json.loads(ctx.inputs.get(source, ""))
        except ValueError:
            raise _bad(f"the result of {source!r} is not JSON (a list was expected)") from None
        path = cfg.get("path")
        if path is not None:
            if not isinstance(value, dict) or path not in value:
                raise _bad(f"the result of {source!r} has no key {path!r}")
            value = value[path]
        if not isinstance(value, list):
            raise _bad(f"the result of {source!r} is {type(value).__name__}, not a list")
        limit = int(cfg.get("max_items", DEFAULT_MAX_ITEMS))
        if len(value) > limit:
            raise _bad(f"{len(value)} items is over this map's max_items={limit}")
        return value

    def _child(self, spec: TaskSpec, index: int, item: Any) -> TaskSpec:
        template = dict(spec.config["template"])
        text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        prompt = str(template.get("prompt", ""))
        template["prompt"] = prompt.replace("{item}", text).replace("{index}", str(index))
        template.setdefault("title", f"{spec.title or spec.id} #{index}")
        return TaskSpec.model_validate({**template, "id": child_id(spec.id, index)})


def _as_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _bad(message: str) -> TaskError:
    return TaskError(message, retryable=False, hint="check the upstream task's output format")

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

from swarm.errors import Problem, TaskError
from swarm.plan import TaskSpec
from workers.base import TaskContext
from workers.rules import map as rules
from workers.rules.map import DEFAULT_MAX_ITEMS, child_id


class MapWorker:
    kind: ClassVar[str] = "map"
    description: ClassVar[str] = (
        "fan out over a JSON list from a dependency: one task per item from a template, "
        "then the items' results joined into one JSON array"
    )
    default_steps: ClassVar[int] = 1

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

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

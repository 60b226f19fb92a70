"""The light rules of the built-in kinds (``workers/rules/``): what they import, that every kind
has them and its worker delegates to them, and that an ``output_schema`` is checked once."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import uuid
from typing import Any

import jsonschema
import pytest

import workers.rules
from swarm.plan import TaskSpec
from swarm.task_fields import TaskDoc
from workers.registry import BUILTIN, RULES, registry, rules_for

FORBIDDEN = (
    "pydantic",
    "anyio",
    "jsonschema",
    "openpyxl",
    "docx",
    "pptx",
    "markdown_it",
    "jinja2",
    "PIL",
    "httpx",
    "sqlalchemy",
    "networkx",
    "swarm.plan",
    "swarm.store",
    "swarm.providers",
    "swarm.runtime",
    "workers.base",
)
"""What `swarm validate` must not pay for to run a kind's checks."""
ALLOWED = {"swarm", "swarm.errors", "swarm.task_fields", "swarm.output_schema", "workers"}
"""The project's modules a rules module may load besides ``workers.rules.*``."""

TASKS: dict[str, dict[str, Any]] = {
    "llm": {"prompt": "Sum up.", "output_schema": {"type": "object", "required": ["a"]}},
    "agent": {"prompt": "Find out.", "config": {"reasks": 3}},
    "code": {"config": {"code": "print(1)", "timeout_s": 5}},
    "map": {
        "deps": ["src"],
        "config": {"over": "src", "template": {"kind": "llm", "prompt": "Do {item}."}},
    },
    "subplan": {"prompt": "Plan the rest.", "config": {"max_tasks": 5}},
    "orchestrator": {"prompt": "Run a study.", "config": {"max_depth": 2}},
    "document": {"deps": ["a"], "config": {"formats": ["md"], "outline": ["Intro"]}},
    "sheet": {"deps": ["a"], "config": {"columns": [{"name": "n", "type": "integer"}]}},
    "slides": {"deps": ["a"], "config": {"max_bullets": 4}},
    "site": {"deps": ["a"], "config": {"layout": "landing"}},
    "image": {"prompt": "A red kite.", "config": {"count": 2, "aspect_ratio": "16:9"}},
}
"""A valid task of every built-in kind."""
BROKEN: dict[str, dict[str, Any]] = {
    "llm": {"prompt": " ", "output_schema": {"type": "nope"}, "config": {"x": 1}},
    "agent": {"prompt": "", "config": {"reasks": 99, "odd": True}},
    "code": {"config": {"code": "def (", "memory_mb": 1}},
    "map": {"config": {"over": "x", "template": {"kind": "llm", "id": "y"}, "max_items": 0}},
    "subplan": {"id": "a:b:c", "prompt": "", "config": {"max_tasks": 0, "odd": 1}},
    "orchestrator": {"id": "o:s1-1:s1-1", "config": {"max_depth": 9, "history": {}}},
    "document": {"config": {"formats": ["pdf"], "outline": [1], "title": ""}},
    "sheet": {"deps": ["a"], "config": {"sheets": [{"columns": []}, {"columns": [{}]}]}},
    "slides": {"config": {"max_bullets": 0, "charts": "yes", "filename": "../x"}},
    "site": {"deps": ["a"], "config": {"layout": "grid", "titles": {"b": "B"}}},
    "image": {"prompt": "", "config": {"count": 9, "format": "gif", "seed": 1.5, "odd": 0}},
}
"""A task of every built-in kind with several problems."""


def doc(kind: str, fields: dict[str, Any]) -> TaskDoc:
    """The task as validation reads it: the plan model's filled-in JSON document."""
    task = TaskSpec.model_validate({"id": "t", "kind": kind, **fields})
    return TaskDoc.of(task.model_dump())


def fresh(code: str) -> dict[str, Any]:
    """What ``code`` prints as JSON, run in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def rules_modules() -> list[str]:
    return [f"workers.rules.{m.name}" for m in pkgutil.iter_modules(workers.rules.__path__)]


def test_every_builtin_kind_has_a_rules_module() -> None:
    assert set(RULES) == set(BUILTIN) == set(TASKS) == set(BROKEN)
    assert {path.partition(":")[0] for path in RULES.values()} <= set(rules_modules())


def test_importing_every_rules_module_loads_nothing_heavy() -> None:
    loaded = fresh(
        "import importlib, json, sys\n"
        f"for name in {rules_modules()!r}: importlib.import_module(name)\n"
        "print(json.dumps({'modules': sorted(sys.modules)}))"
    )["modules"]
    assert [m for m in loaded if any(m == f or m.startswith(f"{f}.") for f in FORBIDDEN)] == []
    ours = {m for m in loaded if m.split(".")[0] in {"swarm", "workers", "planners"}}
    assert ours - ALLOWED == {m for m in ours if m.startswith("workers.rules")}


def test_checking_every_kind_imports_neither_pydantic_nor_jsonschema() -> None:
    """The rules of every kind on a filled-in valid task, an ``llm`` one with an everyday
    output schema among them (a map's template is vouched for by the plan's JSON Schema)."""
    tasks = [
        {"id": "t", "kind": kind, "prompt": "", "deps": [], "config": {}, "output_schema": None}
        | fields
        for kind, fields in TASKS.items()
    ]
    result = fresh(
        "import json, sys\n"
        "from swarm.task_fields import TaskDoc\n"
        "from workers.registry import rules_for\n"
        f"tasks = json.loads({json.dumps(tasks)!r})\n"
        "problems = [str(p) for t in tasks for p in rules_for(t['kind'])(TaskDoc.of(t))]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'jsonschema'))\n"
        "print(json.dumps({'problems': problems, 'heavy': heavy}))"
    )
    assert result == {"problems": [], "heavy": []}


@pytest.mark.parametrize("kind", sorted(BUILTIN))
def test_a_worker_checks_with_its_kinds_rules(kind: str) -> None:
    rules = rules_for(kind)
    worker = registry()[kind]
    assert rules is not None
    assert sys.modules[type(worker).__module__].rules.check is rules
    for fields in (TASKS[kind], BROKEN[kind]):
        spec = TaskSpec.model_validate({"id": "t", "kind": kind, **fields})
        assert worker.check(spec) == rules(doc(kind, fields))
    assert rules(doc(kind, TASKS[kind])) == []
    assert len(rules(doc(kind, BROKEN[kind]))) >= 2


def test_a_plugin_kind_has_no_light_rules() -> None:
    assert rules_for("echo") is None


def test_an_output_schema_is_checked_once_however_many_tasks_share_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A schema the light check cannot vouch for (a ``$ref``) goes to jsonschema's meta-schema
    check once; a second distinct one once more; the problem is worded as jsonschema words it."""
    calls: list[object] = []
    check_schema = jsonschema.Draft202012Validator.check_schema

    def counted(schema: object, **kwargs: Any) -> None:
        calls.append(schema)
        check_schema(schema, **kwargs)

    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema", counted)
    tag = uuid.uuid4().hex  # a schema no other test has checked (the cache outlives a test)
    shared = {"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer"}}, "title": tag}
    bad = {"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer"}}, "minimum": tag}
    rules = rules_for("llm")
    assert rules is not None
    for kind in ("llm", "agent", "code"):
        check = rules_for(kind)
        assert check is not None
        for i in range(100):
            fields = TASKS[kind] | {"output_schema": dict(reversed(shared.items()))}
            assert check(doc(kind, fields)) == [], i
    assert len(calls) == 1
    problems = [rules(doc("llm", {"prompt": "x", "output_schema": bad})) for _ in range(50)]
    assert len(calls) == 2
    with pytest.raises(jsonschema.SchemaError) as exc:
        check_schema(bad)
    assert {str(p[0]) for p in problems} == {
        f"task 't'.output_schema: not a JSON Schema: {exc.value.message}"
    }

"""`swarm validate`, `swarm graph` and `swarm schema`, run in-process (and once as a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import swarm.plan
import swarm.plan_file
from swarm.plan import plan_json_schema

ROOT = Path(__file__).resolve().parents[2]
BAD_PLANS = ROOT / "tests" / "fixtures" / "bad_plans"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))

GOOD: dict[str, Any] = {
    "goal": "write a report",
    "tasks": [
        {"id": "a", "kind": "llm", "prompt": "research A"},
        {"id": "b", "kind": "llm", "prompt": "research B"},
        {"id": "c", "kind": "llm", "prompt": "outline", "deps": ["a"]},
        {"id": "d", "kind": "llm", "prompt": "draft", "deps": ["b", "c"]},
        {"id": "e", "kind": "llm", "prompt": "check", "deps": ["b"]},
    ],
}

# For each broken plan: every problem validation must report, as (where, field, words in it).
EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "array.json": [("plan", "", "a plan is a JSON object, not an array")],
    "bad_output_schema.json": [("task 'a'", "output_schema", "not a JSON Schema")],
    "bad_task_id.json": [("task 'has space'", "id", "must start with a letter or digit")],
    "cycle.json": [("task 'a'", "deps", "cycle: a -> b -> c -> a")],
    "deps_not_a_list.json": [("task 'b'", "deps", "must be a list")],
    "duplicate_ids.json": [("task 'a'", "id", "duplicate id (also tasks[0])")],
    "empty.json": [("plan", "", "the file is empty")],
    "invalid_json.json": [("plan", "", "invalid JSON at line 2 column 44")],
    "llm_without_prompt.json": [("task 'b'", "prompt", "an llm task needs a prompt")],
    "many_problems.json": [
        ("task 'a'", "retries", "must be a whole number"),
        ("task 'b'", "deps", "unknown dependency 'ghost'"),
        ("task 'c'", "deps", "cycle: c -> d -> c"),
        ("task 'e'", "kind", "unknown kind 'telepathy'"),
        ("task 'f'", "promt", "unknown field"),
    ],
    "max_steps_over_pool.json": [("task 'big'", "max_steps", "exceeds the run's step pool")],
    "missing_goal.json": [("plan", "goal", "is required")],
    "negative_limits.json": [
        ("plan", "budget.max_steps", "must be at least 1"),
        ("plan", "budget.max_concurrency", "must be at least 1"),
    ],
    "negative_retries.json": [("task 'a'", "retries", "must be at least 0")],
    "non_utf8.json": [("file", "", "not UTF-8 text")],
    "per_kind_limit_zero.json": [("plan", "budget.per_kind_concurrency.llm", "at least 1")],
    "self_dependency.json": [("task 'b'", "deps", "a task cannot depend on itself")],
    "tasks_not_a_list.json": [("plan", "tasks", "must be a list")],
    "truncated.json": [("plan", "", "invalid JSON at line 1")],
    "unknown_dependency.json": [("task 'b'", "deps", "unknown dependency 'ghost'")],
    "unknown_field.json": [("task 'b'", "promt", "unknown field")],
    "unknown_kind.json": [("task 'b'", "kind", "unknown kind 'telepathy'")],
    "whitespace_only.json": [("plan", "", "the file is empty")],
    "wrong_types.json": [
        ("task 'a'", "retries", "must be a whole number"),
        ("task 'b'", "timeout_s", "must be a number"),
    ],
    "wrong_version.json": [("plan", "version", "Input should be 1")],
    "zero_tasks.json": [("plan", "tasks", "needs at least one item")],
}


@pytest.fixture
def good_plan(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    return path


def location(where: str, field: str) -> str:
    return f"{where}.{field}" if field else where


# -- the corpus of broken plans --------------------------------------------------------------


def test_the_corpus_is_covered() -> None:
    assert sorted(p.name for p in BAD_PLANS.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_names_every_problem_and_where(cli: Any, name: str) -> None:
    path = BAD_PLANS / name
    result = cli("validate", path)
    assert result.code == 2
    assert result.out == ""
    expected = EXPECTED[name]
    noun = "problem" if len(expected) == 1 else "problems"
    assert f"error: {path}: invalid plan, {len(expected)} {noun}:" in result.err
    lines = result.err.splitlines()
    for where, field, words in expected:
        prefix = f"  - {location(where, field)}: "
        assert any(line.startswith(prefix) and words in line for line in lines), (prefix, words)
    assert "hint: fix the plan file and check it with `swarm validate PLAN`" in result.err


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_json_lists_every_problem(cli: Any, name: str) -> None:
    path = BAD_PLANS / name
    result = cli("validate", "--json", path)
    assert result.code == 2
    assert result.err == ""
    report = json.loads(result.out)
    assert report["ok"] is False
    assert report["source"] == str(path)
    problems = report["problems"]
    assert len(problems) == len(EXPECTED[name])
    for where, field, words in EXPECTED[name]:
        assert any(
            p["where"] == where and p["field"] == field and words in p["message"] for p in problems
        ), (where, field, words)


def test_a_plan_over_the_size_limit(
    cli: Any, good_plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(swarm.plan_file, "MAX_PLAN_BYTES", 100)
    size = good_plan.stat().st_size
    result = cli("validate", good_plan)
    assert result.code == 2
    assert f"  - file: {size} bytes is over the 100 byte limit for plans" in result.err


def test_a_missing_file(cli: Any, tmp_path: Path) -> None:
    result = cli("validate", tmp_path / "nope.json")
    assert result.code == 2
    assert "  - file: cannot read: No such file or directory" in result.err


def test_brackets_in_problems_are_not_read_as_markup(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "[red]plan.json"
    path.write_text(
        json.dumps({"goal": "g", "tasks": [{"id": "a", "kind": "[bold]x", "prompt": "p"}]}),
        encoding="utf-8",
    )
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}: invalid plan" in result.err
    assert "unknown kind '[bold]x'" in result.err


def test_validate_in_a_real_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "swarm.cli", "validate", str(BAD_PLANS / "cycle.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "task 'a'.deps: cycle: a -> b -> c -> a" in proc.stderr


# -- good plans ------------------------------------------------------------------------------


def test_validate_a_good_plan(cli: Any, good_plan: Path) -> None:
    result = cli("validate", good_plan)
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out == (
        f"{good_plan}: ok, 5 tasks, 4 edges, kinds llm=5, critical path 3 tasks\n"
    )


def test_validate_a_good_plan_as_json(cli: Any, good_plan: Path) -> None:
    result = cli("validate", "--json", good_plan)
    assert result.code == 0
    assert json.loads(result.out) == {
        "ok": True,
        "tasks": 5,
        "edges": 4,
        "kinds": {"llm": 5},
        "critical_path": 3,
    }


def test_validate_a_one_task_plan(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"goal": "g", "tasks": [GOOD["tasks"][0]]}), encoding="utf-8")
    result = cli("validate", path)
    assert result.code == 0
    assert result.out.endswith(": ok, 1 task, 0 edges, kinds llm=1, critical path 1 task\n")


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_example_plans_validate(cli: Any, example: Path) -> None:
    result = cli("validate", example)
    assert result.code == 0, result.err
    assert ": ok, " in result.out


def test_validate_needs_a_plan(cli: Any) -> None:
    result = cli("validate")
    assert result.code == 2
    assert "Missing argument" in result.err


# -- graph -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), ("--format", "tree"), ("-f", "tree")])
def test_graph_tree_marks_the_critical_path(cli: Any, good_plan: Path, args: tuple[str]) -> None:
    result = cli("graph", *args, good_plan)
    assert result.code == 0, result.err
    assert result.out == "\n".join(
        [
            "a [llm] *",
            "└── c [llm] *",
            "    └── d [llm] *",
            "b [llm]",
            "├── d (see above)",
            "└── e [llm]",
            "",
        ]
    )


def test_graph_mermaid(cli: Any, good_plan: Path) -> None:
    result = cli("graph", "--format", "mermaid", good_plan)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    n0["a (llm)"]' in lines
    assert sorted(line.strip() for line in lines if "-->" in line) == [
        "n0 --> n2",
        "n1 --> n3",
        "n1 --> n4",
        "n2 --> n3",
    ]


def test_graph_dot(cli: Any, good_plan: Path) -> None:
    result = cli("graph", "--format", "dot", good_plan)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "digraph plan {" and lines[-1] == "}"
    assert '    "a" [label="a\\nllm"];' in lines
    assert sorted(line.strip() for line in lines if "->" in line) == [
        '"a" -> "c";',
        '"b" -> "d";',
        '"b" -> "e";',
        '"c" -> "d";',
    ]


def test_graph_of_an_invalid_plan_is_refused(cli: Any) -> None:
    result = cli("graph", BAD_PLANS / "cycle.json")
    assert result.code == 2
    assert result.out == ""
    assert "cycle: a -> b -> c -> a" in result.err


def test_graph_refuses_an_unknown_format(cli: Any, good_plan: Path) -> None:
    result = cli("graph", "--format", "png", good_plan)
    assert result.code == 2
    assert result.out == ""
    assert "png" in result.err


# -- schema ----------------------------------------------------------------------------------


def test_schema_prints_the_plan_schema(cli: Any) -> None:
    result = cli("schema")
    assert result.code == 0
    assert result.out.startswith("{\n  ")
    schema = json.loads(result.out)
    assert schema == plan_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(GOOD)


@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_schema_to_a_file(cli: Any, tmp_path: Path, flag: str) -> None:
    path = tmp_path / "plan.schema.json"
    result = cli("schema", flag, path)
    assert result.code == 0
    assert result.out == ""
    assert json.loads(path.read_text(encoding="utf-8")) == plan_json_schema()


def test_schema_to_an_unwritable_place(cli: Any, tmp_path: Path) -> None:
    result = cli("schema", "-o", tmp_path / "no" / "such" / "dir.json")
    assert result.code == 2
    assert "cannot write the schema to" in result.err

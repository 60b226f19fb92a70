"""The code kind: validation, JSON in and out, failure semantics, and hostile code in a real run
(F11: a task that kills its own sandbox fails after its retries; the rest of the DAG goes on)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from swarm.errors import OutputError, TaskError
from swarm.plan import Plan, TaskSpec
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.fakes import ScriptedProvider, plan_data
from tests.workers.conftest import make_ctx
from workers.code import CodeWorker

pytestmark = pytest.mark.anyio
FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def code_task(task_id: str, code: str, **extra: Any) -> dict[str, Any]:
    config = {"code": code, **extra.pop("config", {})}
    return {"id": task_id, "kind": "code", "config": config, **extra}


def problems(spec: dict[str, Any]) -> dict[str, str]:
    checked = CodeWorker().check(TaskSpec.model_validate({"id": "t", "kind": "code", **spec}))
    return {p.field: p.message for p in checked}


def test_check() -> None:
    assert problems({"config": {"code": "print(1)"}}) == {}
    assert "needs Python source" in problems({})["config.code"]
    assert "needs Python source" in problems({"config": {"code": 5}})["config.code"]
    assert "does not compile (line 2)" in problems({"config": {"code": "x = 1\nif"}})["config.code"]
    assert "longer than" in problems({"config": {"code": "#" * 200_000}})["config.code"]
    found = problems(
        {
            "config": {"code": "pass", "timeout_s": 0, "memory_mb": 1.5, "shell": True},
            "output_schema": {"type": "nope"},
        }
    )
    assert set(found) == {"config", "config.timeout_s", "config.memory_mb", "output_schema"}


async def test_inputs_on_stdin_and_json_out(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "data = json.load(sys.stdin)\n"
        "print(json.dumps({'keys': sorted(data), 'n': data['a']['n'], 'b': data['b']}))"
    )
    spec = {"kind": "code", "config": {"code": code}}
    ctx = make_ctx(tmp_path, spec, inputs={"a": '{"n": 3}', "b": "plain text"})
    result = await CodeWorker().run(ctx)
    assert json.loads(result) == {"keys": ["a", "b"], "n": 3, "b": "plain text"}
    (step,) = ctx.steps
    assert step.kind == "tool" and step.name == "code" and step.detail is not None
    assert step.detail["exit_code"] == 0 and step.detail["failure"] is None
    assert "isolation" in step.detail


async def test_output_is_checked_against_the_schema(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["total"]}
    spec = {"kind": "code", "config": {"code": "print('{\"sum\": 1}')"}, "output_schema": schema}
    with pytest.raises(OutputError, match="does not fit the output schema") as info:
        await CodeWorker().run(make_ctx(tmp_path, spec))
    assert info.value.retryable is False


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("print('not json')", "not one JSON value"),
        ("pass", "printed nothing"),
        ("import json; print(json.dumps({'x': float('nan')}))", "NaN is not a JSON number"),
        ("print('[' * 3000 + ']' * 3000)", "nested more than"),
    ],
)
async def test_output_must_be_json(tmp_path: Path, code: str, message: str) -> None:
    with pytest.raises(OutputError, match=message) as info:
        await CodeWorker().run(make_ctx(tmp_path, {"kind": "code", "config": {"code": code}}))
    assert not info.value.retryable


async def test_an_exception_is_not_retried_and_shows_its_traceback(tmp_path: Path) -> None:
    spec = {"kind": "code", "config": {"code": "import sys\nprint('x', file=sys.stderr)\n1/0"}}
    ctx = make_ctx(tmp_path, spec)
    with pytest.raises(TaskError, match="exited with code 1") as info:
        await CodeWorker().run(ctx)
    assert not info.value.retryable
    assert "ZeroDivisionError" in str(info.value)
    assert ctx.steps[0].detail is not None and "ZeroDivisionError" in ctx.steps[0].detail["stderr"]


async def test_death_by_signal_and_timeouts_are_retryable(tmp_path: Path) -> None:
    kill = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(TaskError, match="killed by SIGKILL") as info:
        await CodeWorker().run(make_ctx(tmp_path, {"kind": "code", "config": {"code": kill}}))
    assert info.value.retryable
    slow = {"kind": "code", "config": {"code": "import time\ntime.sleep(30)", "timeout_s": 0.5}}
    with pytest.raises(TaskError, match="wall-clock limit") as info:
        await CodeWorker().run(make_ctx(tmp_path, slow))
    assert info.value.retryable


async def execute(db: Path, data: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        plan = Plan.model_validate(data)
        return await runs.execute(store, plan, ScriptedProvider(), options, run_id="r")
    finally:
        await store.close()


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_a_poison_task_fails_after_its_retries_and_the_dag_goes_on(tmp_path: Path) -> None:
    """F11: the task kills its own sandbox process every time."""
    poison = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    tasks = [
        code_task("poison", poison, retries=2),
        code_task("after-poison", "print(1)", deps=["poison"]),
        code_task("ok", "print(json.dumps(41 + 1))".replace("print", "import json\nprint")),
        {"id": "uses-ok", "kind": "llm", "prompt": "use it", "deps": ["ok"]},
    ]
    db = tmp_path / "s.db"
    summary = await execute(db, plan_data(tasks), tmp_path)
    assert summary["status"] == "failed"
    status = dict(rows(db, "SELECT task_id, status FROM tasks"))
    assert status == {
        "poison": "failed",
        "after-poison": "skipped",
        "ok": "succeeded",
        "uses-ok": "succeeded",
    }
    attempts = rows(db, "SELECT attempt, status FROM attempts WHERE task_id='poison'")
    assert sorted(attempts) == [(1, "failed"), (2, "failed"), (3, "failed")]
    (result,) = rows(db, "SELECT result FROM tasks WHERE task_id='ok'")[0]
    assert result == "42"


async def test_hostile_tasks_leave_the_rest_of_the_run_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork bomb, a memory hog, a flood of output, a token thief and an escape attempt run
    beside ordinary tasks: each hostile one is contained, the ordinary ones succeed."""
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_do_not_leak")
    fast = {"timeout_s": 2, "memory_mb": 128}
    hostile = {
        "bomb": FORK_BOMB,
        "hog": "hog = []\nwhile True:\n    hog.append(bytearray(1 << 24))",
        "flood": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
        "thief": "import os, json\nprint(json.dumps(os.environ.get('REPLICATE_API_TOKEN')))",
        "escape": "open('../../../../escaped.txt', 'w').write('x')\nprint(1)",
    }
    tasks = [code_task(name, code, retries=0, config=fast) for name, code in hostile.items()]
    tasks += [code_task(f"fine{i}", f"print({i})") for i in range(4)]
    tasks.append({"id": "llm", "kind": "llm", "prompt": "sum up", "deps": ["fine0", "thief"]})
    db = tmp_path / "s.db"
    await execute(db, plan_data(tasks, budget={"max_concurrency": 16}), tmp_path)
    status = dict(rows(db, "SELECT task_id, status FROM tasks"))
    assert {k: status[k] for k in ("bomb", "hog", "flood", "escape")} == dict.fromkeys(
        ("bomb", "hog", "flood", "escape"), "failed"
    )
    assert all(status[f"fine{i}"] == "succeeded" for i in range(4))
    assert status["thief"] == "succeeded" and status["llm"] == "succeeded"
    (stolen,) = rows(db, "SELECT result FROM tasks WHERE task_id='thief'")[0]
    assert stolen == "null"
    errors = dict(rows(db, "SELECT task_id, error FROM tasks WHERE status='failed'"))
    assert "wall-clock limit" in errors["bomb"]
    assert "MemoryError" in errors["hog"]
    assert "output exceeded" in errors["flood"]
    assert "PermissionError" in errors["escape"] or "No such file" in errors["escape"]
    assert not escaped(tmp_path)


def escaped(root: Path) -> list[Path]:
    return list(root.rglob("escaped.txt"))

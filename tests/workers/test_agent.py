"""The agent kind with scripted models: tools, the step budget, loops, malformed actions."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarm.errors import BudgetExceeded, OutputError, TaskError
from swarm.providers.base import ModelRequest
from tests.workers.conftest import FakeSandbox, act, actions, in_order, is_final, make_ctx
from workers.agent import ELIDED, AgentWorker
from workers.sandbox import Limits, SandboxResult

pytestmark = pytest.mark.anyio

SPEC = {"kind": "agent", "prompt": "Find the answer."}


def tool_steps(ctx: Any) -> list[str]:
    return [s.name for s in ctx.steps if s.kind == "tool"]


async def test_agent_uses_every_tool(tmp_path: Path) -> None:
    """A scripted agent calls each tool once, with the real sandbox, and every step is kept."""
    script = in_order(
        act("python", code="open('data.txt', 'w').write('42')\nprint('computed', 6 * 7)"),
        act("write_file", path="notes/plan.md", content="the answer is in data.txt"),
        act("list_files", path="."),
        act("read_file", path="data.txt"),
        act("read_result", task_id="source"),
        act("finish", answer="the answer is 42"),
    )
    provider = actions(script)
    ctx = make_ctx(tmp_path, SPEC, provider, inputs={"source": "source says 42"})
    result = await AgentWorker().run(ctx)

    assert result == "the answer is 42"
    assert [s.kind for s in ctx.steps] == ["model", "tool"] * 5 + ["model"]
    assert tool_steps(ctx) == ["python", "write_file", "list_files", "read_file", "read_result"]
    observations = [s.detail["observation"] for s in ctx.steps if s.kind == "tool"]  # type: ignore[index]
    assert "computed 42" in observations[0]
    assert "wrote 25 bytes to notes/plan.md" in observations[1]
    assert "data.txt  2 bytes" in observations[2] and "notes/plan.md" in observations[2]
    assert observations[3] == "42"
    assert observations[4] == "source says 42"
    python_step = ctx.steps[1]
    assert python_step.detail is not None and python_step.detail["sandbox"]["exit_code"] == 0
    for step in ctx.steps:
        assert step.latency_s >= 0 and step.detail is not None and "action" in step.detail
        if step.kind == "model":
            assert step.tokens_in > 0 and step.tokens_out > 0
    assert [s.n for s in ctx.steps] == list(range(1, 12))
    # each prompt carries what happened before it
    assert "computed 42" in provider.calls[1].prompt
    assert "### Step 5: read_result" in provider.calls[5].prompt
    assert (ctx.workspace / "notes" / "plan.md").read_text() == "the answer is in data.txt"


async def test_budget_exhaustion_ends_in_a_forced_final_answer(tmp_path: Path) -> None:
    counter = iter(range(100))

    def script(request: ModelRequest) -> dict[str, Any]:
        if is_final(request):
            return act("finish", answer="best guess so far")
        return act("write_file", path=f"f{next(counter)}.txt", content="x")

    provider = actions(script)
    ctx = make_ctx(tmp_path, SPEC, provider, allowance=7)
    result = await AgentWorker(FakeSandbox()).run(ctx)

    assert result == "best guess so far"
    assert len(ctx.steps) == 7
    assert tool_steps(ctx) == ["write_file"] * 3
    last = provider.calls[-1]
    assert "FINAL STEP" in last.prompt and "Steps left: 1." in last.prompt
    assert last.json_schema is not None
    assert [v["properties"]["tool"]["const"] for v in last.json_schema["oneOf"]] == ["finish"]
    assert ctx.steps[-1].detail is not None and ctx.steps[-1].detail["final"] == "budget"


async def test_an_agent_that_ignores_the_final_step_fails_cleanly(tmp_path: Path) -> None:
    counter = iter(range(100))
    provider = actions(lambda r: act("write_file", path=f"f{next(counter)}", content=""))
    ctx = make_ctx(tmp_path, SPEC, provider, allowance=6)
    with pytest.raises(OutputError, match="no steps left to re-ask"):
        await AgentWorker(FakeSandbox()).run(ctx)
    assert len(ctx.steps) == 6
    rejected = [s.detail["rejected"] for s in ctx.steps if s.detail and "rejected" in s.detail]
    assert rejected and "use one of: finish" in rejected[0]


async def test_allowance_of_one_asks_for_the_answer_at_once(tmp_path: Path) -> None:
    provider = actions(lambda r: act("finish", answer="done") if is_final(r) else "nope")
    ctx = make_ctx(tmp_path, SPEC, provider, allowance=1)
    assert await AgentWorker(FakeSandbox()).run(ctx) == "done"
    assert len(ctx.steps) == 1


async def test_a_looping_agent_is_stopped(tmp_path: Path) -> None:
    sandbox = FakeSandbox()
    provider = actions(lambda r: act("python", code="print(1)"))
    ctx = make_ctx(tmp_path, {**SPEC, "config": {"repeat_limit": 3}}, provider, allowance=40)
    with pytest.raises(TaskError, match="repeated the same action 3 times") as info:
        await AgentWorker(sandbox).run(ctx)
    assert info.value.retryable is False
    assert len(sandbox.codes) == 2  # the third repeat is not run
    assert len(ctx.steps) < 10
    assert any(s.detail and "loop" in s.detail for s in ctx.steps)


async def test_a_looping_agent_may_still_give_its_final_answer(tmp_path: Path) -> None:
    def script(request: ModelRequest) -> dict[str, Any]:
        if is_final(request):
            assert "you repeated the same action" in request.prompt
            return act("finish", answer="what I have")
        return act("list_files", path=".")

    ctx = make_ctx(tmp_path, SPEC, actions(script), allowance=40)
    assert await AgentWorker(FakeSandbox()).run(ctx) == "what I have"
    assert tool_steps(ctx) == ["list_files", "list_files"]
    assert ctx.steps[-1].detail is not None and ctx.steps[-1].detail["final"] == "loop"


async def test_alternating_between_two_actions_is_a_loop(tmp_path: Path) -> None:
    a, b = act("list_files", path="."), act("read_file", path="missing.txt")
    provider = actions(in_order(a, b, a, b, a, b, a, b, act("finish", answer="x")))
    ctx = make_ctx(tmp_path, SPEC, provider, allowance=40)
    with pytest.raises(TaskError, match="repeated"):
        await AgentWorker(FakeSandbox()).run(ctx)
    assert tool_steps(ctx) == ["list_files", "read_file", "list_files", "read_file"]


async def test_malformed_actions_are_reasked_then_fail_cleanly(tmp_path: Path) -> None:
    provider = actions(
        in_order("I think I will call python", {"tool": "teleport", "args": {}}, act("python"))
    )
    ctx = make_ctx(tmp_path, {**SPEC, "config": {"reasks": 2}}, provider)
    with pytest.raises(OutputError, match="no valid action after 2 re-asks") as info:
        await AgentWorker(FakeSandbox()).run(ctx)
    assert info.value.retryable
    assert [s.kind for s in ctx.steps] == ["model"] * 3
    problems = [s.detail["rejected"] for s in ctx.steps if s.detail]
    assert "not valid JSON" in problems[0]
    assert "unknown or unavailable tool 'teleport'" in problems[1]
    assert "'code' is a required property" in problems[2]
    assert "Your previous answer was rejected: the answer is not valid JSON" in (
        provider.calls[1].prompt
    )


async def test_a_malformed_action_then_a_good_one_recovers(tmp_path: Path) -> None:
    fenced = "```json\n" + json.dumps(act("finish", answer="ok")) + "\n```"
    provider = actions(in_order("{", fenced))
    ctx = make_ctx(tmp_path, SPEC, provider)
    assert await AgentWorker(FakeSandbox()).run(ctx) == "ok"


async def test_tool_errors_become_observations(tmp_path: Path) -> None:
    async def broken(code: str) -> SandboxResult:
        raise OSError("cannot start the interpreter")

    script = in_order(
        act("read_file", path="missing.txt"),
        act("read_result", task_id="nobody"),
        act("write_file", path="../outside.txt", content="x"),
        act("read_file", path="/etc/passwd"),
        act("python", code="print(1)"),
        act("finish", answer="recovered"),
    )
    provider = actions(script)
    ctx = make_ctx(tmp_path, SPEC, provider, inputs={"a": "A"})
    assert await AgentWorker(FakeSandbox(broken)).run(ctx) == "recovered"
    observations = [s.detail for s in ctx.steps if s.kind == "tool"]
    assert all(d is not None and d["ok"] is False for d in observations)
    texts = [d["observation"] for d in observations if d]
    assert "no file missing.txt" in texts[0]
    assert "no result for 'nobody'; the results you can read: a" in texts[1]
    assert "leads outside your workspace" in texts[2]
    assert "is absolute" in texts[3]
    assert "cannot start the interpreter" in texts[4]
    assert not (tmp_path / "run" / "work" / "outside.txt").exists()


async def test_lone_surrogates_in_actions_and_observations_are_replaced(tmp_path: Path) -> None:
    """Model output is untrusted: ``"\\ud800"`` in an action decodes to a lone surrogate, which
    no UTF-8 store accepts; the agent sees U+FFFD instead, in its tools and its answer."""

    async def echo(code: str) -> SandboxResult:
        return SandboxResult(Limits(), 0, None, "out \udc00 \x00 end", "", 0.01)

    script = in_order(
        act("write_file", path="bad\ud800name.txt", content="x\udfff"),
        act("python", code="print(1)"),
        act("finish", answer="recovered \ud800"),
    )
    ctx = make_ctx(tmp_path, SPEC, actions(script))
    assert await AgentWorker(FakeSandbox(echo)).run(ctx) == "recovered \ufffd"
    written = ctx.workspace / "bad\ufffdname.txt"
    assert written.read_text(encoding="utf-8") == "x\ufffd"
    observation = ctx.steps[3].detail["observation"]  # type: ignore[index]
    assert "out \ufffd \ufffd end" in observation
    for step in ctx.steps:
        json.dumps(step.detail, ensure_ascii=False).encode("utf-8")


async def test_a_finish_with_nan_or_deep_nesting_is_reasked(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"score": {"type": "number"}}}
    nan = '{"tool": "finish", "args": {"answer": {"score": NaN}}}'
    deep = '{"tool": "finish", "args": {"answer": ' + "[" * 5000 + "]" * 5000 + "}}"
    provider = actions(in_order(nan, deep, act("finish", answer={"score": 0.5})))
    spec = {**SPEC, "output_schema": schema, "config": {"reasks": 2}}
    ctx = make_ctx(tmp_path, spec, provider)
    assert await AgentWorker(FakeSandbox()).run(ctx) == '{"score": 0.5}'
    rejected = [s.detail["rejected"] for s in ctx.steps[:2]]  # type: ignore[index]
    assert "NaN is not a JSON number" in rejected[0]
    assert "nested more than" in rejected[1]


async def test_python_failures_are_observations(tmp_path: Path) -> None:
    script = in_order(act("python", code="1/0"), act("finish", answer="saw it"))
    ctx = make_ctx(tmp_path, SPEC, actions(script))
    assert await AgentWorker().run(ctx) == "saw it"
    detail = ctx.steps[1].detail
    assert detail is not None and detail["ok"] is False
    assert "exited with code 1" in detail["observation"]
    assert "ZeroDivisionError" in detail["observation"]


async def test_the_answer_must_fit_the_output_schema(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    provider = actions(
        in_order(act("finish", answer={"n": "five"}), act("finish", answer={"n": 5}))
    )
    ctx = make_ctx(tmp_path, {**SPEC, "output_schema": schema}, provider)
    assert await AgentWorker(FakeSandbox()).run(ctx) == '{"n": 5}'
    assert ctx.steps[0].detail is not None
    assert "does not fit" in ctx.steps[0].detail["rejected"]
    finish = provider.calls[0].json_schema["oneOf"][-1]  # type: ignore[index]
    assert finish["properties"]["args"]["properties"]["answer"] == schema


async def test_trimming_is_recorded(tmp_path: Path) -> None:
    """Inputs are trimmed by the context-window policy and old observations are elided, and
    the model step says so in its detail."""
    big = {"a": "A" * 20_000, "b": "short"}
    script = in_order(
        act("python", code="print('x' * 3000)"),
        act("list_files"),
        act("read_result", task_id="b"),
        act("finish", answer="done"),
    )
    provider = actions(script)
    spec = {**SPEC, "config": {"observation_chars": 8000}}
    ctx = make_ctx(tmp_path, spec, provider, inputs=big)
    worker = AgentWorker(FakeSandbox(_prints(7000)), context_tokens=256 + 4000)
    assert await worker.run(ctx) == "done"
    first = ctx.steps[0].detail
    assert first is not None and first["trimmed_inputs"] == ["a"]
    assert "characters trimmed]" in provider.calls[0].prompt
    last = ctx.steps[-1].detail
    assert last is not None and last["elided_observations"][0] == 1
    assert ELIDED in provider.calls[-1].prompt
    assert "### Step 1: python" in provider.calls[-1].prompt  # the action stays


def _prints(n: int) -> Any:
    async def respond(code: str) -> SandboxResult:
        return SandboxResult(Limits(), 0, None, "x" * n, "", 0.0)

    return respond


def test_check_reports_every_problem() -> None:
    from swarm.plan import TaskSpec

    spec = TaskSpec.model_validate(
        {
            "id": "t",
            "kind": "agent",
            "output_schema": {"type": 5},
            "config": {"reasks": -1, "python_timeout_s": "long", "colour": "red"},
        }
    )
    problems = {(p.field, p.message.split(" ")[0]) for p in AgentWorker().check(spec)}
    fields = {f for f, _ in problems}
    assert fields == {
        "prompt",
        "output_schema",
        "config",
        "config.reasks",
        "config.python_timeout_s",
    }


_ACTIONS = st.one_of(
    st.just(act("list_files")),
    st.builds(lambda p: act("write_file", path=p, content="x"), st.sampled_from("abc")),
    st.just(act("python", code="print(1)")),
    st.just(act("finish", answer="done")),
    st.just("not json"),
    st.just({"tool": "nope", "args": {}}),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(_ACTIONS, min_size=1, max_size=30), allowance=st.integers(1, 25))
def test_steps_never_exceed_the_allowance(script: list[Any], allowance: int) -> None:
    """Whatever the model answers, an attempt takes at most its allowance of steps, numbers
    them 1..n, and ends with an answer or a TaskError."""
    provider = actions(in_order(*script))
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_ctx(Path(tmp), SPEC, provider, allowance=allowance)

        async def main() -> None:
            with contextlib.suppress(TaskError, BudgetExceeded):
                await AgentWorker(FakeSandbox()).run(ctx)

        anyio.run(main)
    assert len(ctx.steps) <= allowance
    assert [s.n for s in ctx.steps] == list(range(1, len(ctx.steps) + 1))
    assert len(provider.calls) == sum(1 for s in ctx.steps if s.kind == "model")

"""The llm kind: trimming recorded in the step, schema-checked output, bounded re-asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm.errors import OutputError
from swarm.providers.base import ModelRequest
from tests.fakes import ScriptedProvider
from tests.workers.conftest import in_order, make_ctx
from workers.context_window import CONTEXT_TOKENS
from workers.llm import LlmWorker

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def scripted(*answers: str) -> ScriptedProvider:
    script = in_order(*answers)

    async def answer(request: ModelRequest) -> str:
        return str(script(request))

    return ScriptedProvider(answer)


async def test_trimmed_inputs_are_recorded_in_the_step(tmp_path: Path) -> None:
    huge = "x" * (CONTEXT_TOKENS * 4)
    provider = scripted("fine")
    spec = {"kind": "llm", "prompt": "Summarise."}
    ctx = make_ctx(tmp_path, spec, provider, inputs={"big": huge, "small": "tiny"})
    assert await LlmWorker().run(ctx) == "fine"
    (step,) = ctx.steps
    assert step.detail == {"trimmed_inputs": ["big"]}
    prompt = provider.calls[0].prompt
    assert "tiny" in prompt and "characters trimmed]" in prompt
    assert "(Trimmed to fit the context window: big.)" in prompt
    assert len(prompt) < CONTEXT_TOKENS * 4


async def test_nothing_trimmed_nothing_recorded(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"kind": "llm", "prompt": "Go."}, scripted("ok"), inputs={"a": "A"})
    await LlmWorker().run(ctx)
    assert ctx.steps[0].detail is None


async def test_invalid_output_is_reasked_with_the_problem(tmp_path: Path) -> None:
    provider = scripted("not json", '{"n": "two"}', '{"n": 2}')
    spec = {"kind": "llm", "prompt": "Count.", "output_schema": SCHEMA}
    ctx = make_ctx(tmp_path, spec, provider)
    assert await LlmWorker().run(ctx) == '{"n": 2}'
    assert len(ctx.steps) == 3
    assert "Your previous answer was rejected: the answer is not valid JSON" in (
        provider.calls[1].prompt
    )
    assert "does not fit the schema at n" in provider.calls[2].prompt
    assert provider.calls[0].json_schema == SCHEMA


async def test_reasks_are_bounded(tmp_path: Path) -> None:
    provider = scripted("nope")
    spec = {"kind": "llm", "prompt": "Count.", "output_schema": SCHEMA, "config": {"reasks": 1}}
    ctx = make_ctx(tmp_path, spec, provider)
    with pytest.raises(OutputError, match="still invalid after re-asks"):
        await LlmWorker().run(ctx)
    assert len(provider.calls) == 2


async def test_reasks_stop_at_the_allowance(tmp_path: Path) -> None:
    provider = scripted("")
    ctx = make_ctx(tmp_path, {"kind": "llm", "prompt": "Say it."}, provider, allowance=2)
    with pytest.raises(OutputError):
        await LlmWorker().run(ctx)
    assert len(ctx.steps) == 2


LABELLED = {"type": "object", "properties": {"label": {"type": "string"}, "score": {}}}


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ('{"label": "x", "score": NaN}', "NaN is not a JSON number"),
        ('{"label": "x", "score": Infinity}', "Infinity is not a JSON number"),
        ('{"label": "x", "score": -Infinity}', "-Infinity is not a JSON number"),
        ('{"label": "x", "score": 1e999}', "too large for a 64-bit float"),
        ('{"label": ' + "[" * 5000 + "]" * 5000 + "}", "nested more than 100 levels"),
    ],
)
async def test_answers_that_are_not_json_are_reasked(tmp_path: Path, bad: str, says: str) -> None:
    """``json.loads`` accepts NaN, Infinity and 1e999 (as inf), and a 5,000-deep answer ends
    in RecursionError: each is an invalid answer, re-asked with what was wrong."""
    provider = scripted(bad, '{"label": "x", "score": 0.5}')
    ctx = make_ctx(
        tmp_path, {"kind": "llm", "prompt": "Label.", "output_schema": LABELLED}, provider
    )
    assert await LlmWorker().run(ctx) == '{"label": "x", "score": 0.5}'
    assert says in provider.calls[1].prompt


async def test_a_lone_surrogate_in_an_answer_is_stored_as_the_replacement_character(
    tmp_path: Path,
) -> None:
    provider = scripted('{"label": "a\\ud800b"}')
    ctx = make_ctx(
        tmp_path, {"kind": "llm", "prompt": "Label.", "output_schema": LABELLED}, provider
    )
    result = await LlmWorker().run(ctx)
    assert result == '{"label": "a\ufffdb"}'
    result.encode("utf-8")


async def test_a_text_answer_with_a_lone_surrogate_or_nul_is_cleaned(tmp_path: Path) -> None:
    provider = scripted("raw \udc80 and \x00 end")
    ctx = make_ctx(tmp_path, {"kind": "llm", "prompt": "Say."}, provider)
    assert await LlmWorker().run(ctx) == "raw \ufffd and \ufffd end"

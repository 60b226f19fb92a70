"""The ``llm`` kind: one model call whose prompt carries the task's instructions and its
dependencies' results; text out, or JSON validated against the task's ``output_schema``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from swarm.errors import OutputError, Problem
from swarm.plan import TaskSpec
from swarm.untrusted import dumps_json, loads_json
from workers.context_window import CONTEXT_TOKENS, fit_inputs
from workers.rules import llm as rules
from workers.rules.llm import DEFAULT_REASKS

if TYPE_CHECKING:  # `swarm validate` loads this module for check(); a run has base loaded
    from workers.base import TaskContext


class LlmWorker:
    kind: ClassVar[str] = "llm"
    description: ClassVar[str] = (
        "one model call: instructions plus the dependencies' results; text or schema-checked JSON"
    )
    default_steps: ClassVar[int] = 1 + DEFAULT_REASKS

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        max_tokens = ctx.params.max_tokens or 2048
        inputs, trimmed = fit_inputs(ctx.inputs, CONTEXT_TOKENS - max_tokens - len(ctx.spec.prompt))
        prompt = build_prompt(ctx.spec, inputs, trimmed)
        schema = ctx.spec.output_schema
        reasks = int(ctx.spec.config.get("reasks", DEFAULT_REASKS))
        problem = ""
        for _ in range(reasks + 1):
            if ctx.steps_left < 1:
                break
            asked = prompt if not problem else f"{prompt}\n\n{problem}"
            response = await ctx.call_model(ctx.request(asked, json_schema=schema))
            if trimmed:
                ctx.annotate_step({"trimmed_inputs": trimmed})
            verdict = check_output(response.text, schema)
            if verdict is None:
                return response.text.strip() if schema is None else normalise_json(response.text)
            problem = (
                "Your previous answer was rejected: "
                f"{verdict}. Answer again, following the instructions exactly."
            )
        raise OutputError(f"model output still invalid after re-asks: {problem or 'no steps left'}")


def build_prompt(spec: TaskSpec, inputs: dict[str, str], trimmed: list[str]) -> str:
    parts = [spec.prompt.strip()]
    if inputs:
        parts.append("\n## Results of the tasks this one depends on")
        for task_id, text in inputs.items():
            parts.append(f"\n### {task_id}\n{text}")
        if trimmed:
            parts.append(f"\n(Trimmed to fit the context window: {', '.join(trimmed)}.)")
    if spec.output_schema is not None:
        parts.append(
            "\nAnswer with one JSON value, and nothing else, that conforms to this JSON Schema:\n"
            + json.dumps(spec.output_schema, sort_keys=True)
        )
    return "\n".join(parts)


def check_output(text: str, schema: dict[str, Any] | None) -> str | None:
    """None if the output is acceptable, else what is wrong with it (to tell the model)."""
    if not text.strip():
        return "the answer was empty"
    if schema is None:
        return None
    try:
        value = loads_json(extract_json(text))
    except ValueError as exc:
        return f"the answer is not valid JSON ({exc})"
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=str)
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path) or "(root)"
        return f"the JSON does not fit the schema at {path}: {first.message}"
    return None


def extract_json(text: str) -> str:
    """The JSON inside a code fence if the model used one, else the text itself."""
    stripped = text.strip()
    if stripped.startswith("```"):
        body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        return body.rsplit("```", 1)[0].strip()
    return stripped


def normalise_json(text: str) -> str:
    """The answer's JSON re-serialised compactly, its strings cleaned (:mod:`swarm.untrusted`),
    its keys in the order the model gave them (the schema's order, usually: the aggregators show
    fields in that order); call it on text :func:`check_output` accepted."""
    return dumps_json(loads_json(extract_json(text)))

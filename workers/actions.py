"""The agent's action format: the JSON Schema the model answers with at each step, and parsing
that names exactly what is wrong with a malformed action so the model can be re-asked.

An action is one JSON object, ``{"thought": "...", "tool": NAME, "args": {...}}``: a call of one
of the agent's tools, or ``finish`` with the task's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonschema

from swarm.untrusted import loads_json
from workers.llm import extract_json

ACTION_TITLE = "swarm agent action v1"
"""The schema's title; the sim provider recognises agent calls by it."""
FINAL_SUFFIX = " (final)"
MAX_CODE_CHARS = 100_000
"""Python source passed to the sandbox on its command line must stay well under the kernel's
128 KiB limit for one argument."""


def _args(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_PATH = {"type": "string", "minLength": 1, "maxLength": 1024}
TOOL_ARGS: dict[str, dict[str, Any]] = {
    "python": _args(
        {"code": {"type": "string", "minLength": 1, "maxLength": MAX_CODE_CHARS}}, ["code"]
    ),
    "read_result": _args({"task_id": {"type": "string", "minLength": 1}}, ["task_id"]),
    "read_file": _args({"path": _PATH}, ["path"]),
    "write_file": _args({"path": _PATH, "content": {"type": "string"}}, ["path", "content"]),
    "list_files": _args({"path": _PATH}, []),
}
"""Argument schemas of the tools that do something (``finish`` is added per task)."""
TOOLS = (*TOOL_ARGS, "finish")


@dataclass(frozen=True, slots=True)
class Action:
    """One parsed, schema-checked action."""

    tool: str
    args: dict[str, Any]
    thought: str = ""

    def key(self) -> str:
        """Canonical text of what the action does (not why): the loop detector compares these."""
        return json.dumps([self.tool, self.args], sort_keys=True, ensure_ascii=False)

    def to_json(self) -> dict[str, Any]:
        return {"thought": self.thought, "tool": self.tool, "args": self.args}


def finish_args(answer_schema: dict[str, Any] | None) -> dict[str, Any]:
    answer = answer_schema if answer_schema is not None else {"type": "string", "minLength": 1}
    return _args({"answer": answer}, ["answer"])


def action_schema(answer_schema: dict[str, Any] | None, *, final: bool) -> dict[str, Any]:
    """The JSON Schema of one action; on the final step only ``finish`` is allowed."""
    tools = {"finish": finish_args(answer_schema)}
    if not final:
        tools = {**TOOL_ARGS, **tools}
    variants = [
        {
            "type": "object",
            "properties": {
                "thought": {"type": "string"},
                "tool": {"const": name},
                "args": args,
            },
            "required": ["tool", "args"],
            "additionalProperties": False,
        }
        for name, args in tools.items()
    ]
    return {"title": ACTION_TITLE + (FINAL_SUFFIX if final else ""), "oneOf": variants}


def parse_action(text: str, schema: dict[str, Any]) -> Action | str:
    """The action in the model's answer, or what is wrong with it (to tell the model)."""
    try:
        value = loads_json(extract_json(text))
    except ValueError as exc:
        return f"the answer is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return "the answer must be one JSON object with keys thought, tool and args"
    allowed = {v["properties"]["tool"]["const"]: v for v in schema["oneOf"]}
    tool = value.get("tool")
    if tool not in allowed:
        return f"unknown or unavailable tool {tool!r}; use one of: {', '.join(allowed)}"
    errors = sorted(jsonschema.Draft202012Validator(allowed[tool]).iter_errors(value), key=str)
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path) or "(root)"
        return f"the {tool} action does not fit its schema at {path}: {first.message[:300]}"
    return Action(tool=str(tool), args=value["args"], thought=value.get("thought", ""))

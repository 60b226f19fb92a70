"""The agent's action format: the JSON Schema the model answers with at each step, and parsing
that names exactly what is wrong with a malformed action so the model can be re-asked.

An action is one JSON object, ``{"thought": "...", "tool": NAME, "args": {...}}``: a call of one
of the agent's tools (its own, or the MCP and fetch tools its task lists), or ``finish`` with
the task's answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from swarm.mcp.names import native_name
from swarm.providers.base import ToolCall
from swarm.untrusted import loads_json
from workers.llm import extract_json
from workers.rules.code import MAX_CODE_CHARS

ACTION_TITLE = "swarm agent action v1"
"""The schema's title; the sim provider recognises agent calls by it."""
FINAL_SUFFIX = " (final)"


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
DESCRIPTIONS = {
    "python": "run Python 3 (standard library only, no network) in the workspace; prints return",
    "read_result": "the full result of a task this one depends on",
    "read_file": "a text file in the workspace",
    "write_file": "write a text file in the workspace",
    "list_files": "the files in the workspace",
    "finish": "end the task; the answer is its result",
}


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


def action_schema(
    answer_schema: dict[str, Any] | None,
    *,
    final: bool,
    extra: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON Schema of one action; on the final step only ``finish`` is allowed. ``extra``
    holds the argument schemas of the task's MCP and fetch tools, by name: no other tool name
    parses, whatever the model answers."""
    tools = {"finish": finish_args(answer_schema)}
    if not final:
        tools = {**TOOL_ARGS, **(extra or {}), **tools}
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


def native_tools(
    schema: dict[str, Any], descriptions: Mapping[str, str]
) -> tuple[dict[str, Any], ...]:
    """The action schema's tools as native function definitions, in the schema's order."""
    out = []
    for variant in schema["oneOf"]:
        tool = variant["properties"]["tool"]["const"]
        function = {
            "name": native_name(tool),
            "description": descriptions.get(tool, tool)[:1000],
            "parameters": variant["properties"]["args"],
        }
        out.append({"type": "function", "function": function})
    return tuple(out)


def parse_calls(calls: Iterable[ToolCall], schema: dict[str, Any]) -> list[Action] | str:
    """The actions of a native tool-call turn, in the model's order, each checked as a JSON
    action is; or what is wrong with the first bad one. ``finish`` ends the turn alone."""
    by_native = {native_name(v["properties"]["tool"]["const"]): v for v in schema["oneOf"]}
    actions: list[Action] = []
    for call in calls:
        variant = by_native.get(call.name)
        tool = variant["properties"]["tool"]["const"] if variant else call.name
        try:
            args = json.loads(call.arguments)
        except ValueError as exc:
            return f"the arguments of the {tool} call are not valid JSON ({exc})"
        parsed = parse_action(json.dumps({"tool": tool, "args": args}), schema)
        if isinstance(parsed, str):
            return parsed
        if parsed.tool == "finish":
            return [parsed]
        actions.append(parsed)
    return actions or "the answer has no tool call"


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

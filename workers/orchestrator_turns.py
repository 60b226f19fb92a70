"""An orchestrator's turn, read and checked: Kimi's two tools (``Agent``, ``AgentSwarm``) and
``final``, from a model answer that is untrusted input. No I/O.

A turn is either one ``final`` call or one or more spawning calls, all of whose sub-agents run
at once, and calls of the orchestrator's own tools (the agent's tools and its MCP and fetch
tools, their arguments checked against their schemas here). Each problem (bad JSON, an unknown
tool, one or 51 items, an empty or too thin prompt, nesting too deep) is a :class:`Refused`
whose message is quoted back to the model in a re-ask. Sub-agents get ids
``<orchestrator id>:s<stage>-<n>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from swarm.mcp.names import native_name
from swarm.plan import TaskSpec
from swarm.providers.base import ToolCall
from swarm.untrusted import loads_json
from workers.llm import extract_json
from workers.rules.orchestrator import stage_of as stage_of  # the runtime reads it here

TURN_TITLE = "swarm orchestrator turn v1"
"""Must equal ``swarm.providers.sim_orchestrator.TURN_TITLE`` (a test pins it)."""
TOOLS = ("Agent", "AgentSwarm", "final")
SPAWNING = ("Agent", "AgentSwarm")
SUBAGENT_TYPES = ("agent", "llm", "orchestrator")
"""What a sub-agent may be: a multi-step agent (the default), one model call, or an
orchestrator of its own (within the depth limit)."""
MIN_ITEMS, MAX_ITEMS = 2, 50
"""Kimi's bounds on one ``AgentSwarm`` call."""
MIN_PROMPT_WORDS = 3
"""A sub-agent sees nothing of its parent's context: a prompt shorter than this cannot say
what to do."""
MAX_CALLS = 16
ITEM = "{{item}}"
BACKGROUND = "run_in_background"
"""A call whose sub-agents the turn does not wait for: their final messages come in the first
later turn after they have ended (Kimi's background agents)."""


class Refused(ValueError):
    """A turn the orchestrator must answer again; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Call:
    tool: str
    args: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": self.args}


@dataclass(frozen=True, slots=True)
class Limits:
    """What one orchestrator may spawn."""

    depth: int
    """This orchestrator's nesting depth (0: the root)."""
    max_depth: int
    max_subagents: int
    """Sub-agents one turn may start."""


def child_id(orchestrator_id: str, stage: int, n: int) -> str:
    return f"{orchestrator_id}:s{stage}-{n}"


def turn_schema(tools: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON Schema of a turn in text (for providers without native tool calls); ``tools``:
    the argument schemas of the orchestrator's own tools, by name."""
    call: dict[str, Any] = {
        "type": "object",
        "properties": {"tool": {"enum": list(TOOLS)}, "args": {"type": "object"}},
        "required": ["tool", "args"],
    }
    if tools:
        variants = [
            {
                "type": "object",
                "properties": {"tool": {"const": name}, "args": args},
                "required": ["tool", "args"],
            }
            for name, args in tools.items()
        ]
        call = {"anyOf": [call, *variants]}
    return {
        "title": TURN_TITLE,
        "type": "object",
        "properties": {
            "thought": {"type": "string"},
            "calls": {"type": "array", "items": call, "minItems": 1, "maxItems": MAX_CALLS},
        },
        "required": ["calls"],
    }


def native_tools(
    tools: Mapping[str, dict[str, Any]] | None = None, descriptions: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], ...]:
    """Kimi's tools and the orchestrator's own (``tools``: argument schemas by name) in
    OpenAI's function format, for providers with native tool calls."""

    def fn(name: str, doc: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        params = {"type": "object", "properties": props, "required": required}
        return {
            "type": "function",
            "function": {"name": name, "description": doc, "parameters": params},
        }

    common = {
        "subagent_type": {"enum": list(SUBAGENT_TYPES)},
        "timeout": {"type": "number", "minimum": 1, "maximum": 86400},
        BACKGROUND: {"type": "boolean"},
    }
    return (
        fn(
            "Agent",
            "Start one sub-agent with a complete prompt; only its final message comes back.",
            {"description": {"type": "string"}, "prompt": {"type": "string"}, **common},
            ["description", "prompt"],
        ),
        fn(
            "AgentSwarm",
            f"Start one sub-agent per item ({MIN_ITEMS}-{MAX_ITEMS}) from a template with {ITEM}.",
            {
                "description": {"type": "string"},
                "prompt_template": {"type": "string"},
                "items": {"type": "array", "minItems": MIN_ITEMS, "maxItems": MAX_ITEMS},
                **common,
            },
            ["prompt_template", "items"],
        ),
        fn("final", "Finish with your answer.", {"answer": {"type": "string"}}, ["answer"]),
        *(
            {
                "type": "function",
                "function": {
                    "name": native_name(name),
                    "description": (descriptions or {}).get(name, name)[:1000],
                    "parameters": args,
                },
            }
            for name, args in (tools or {}).items()
        ),
    )


def parse_turn(
    text: str,
    tool_calls: tuple[ToolCall, ...] = (),
    tools: Mapping[str, dict[str, Any]] | None = None,
) -> tuple[str, list[Call]]:
    """(thought, calls) of an answer: native tool calls if there are any, else the JSON text.
    ``tools``: the argument schemas of the orchestrator's own tools, by name."""
    own = dict(tools or {})
    if tool_calls:
        names = {native_name(n): n for n in own}
        calls = []
        for tc in tool_calls[: MAX_CALLS + 1]:
            try:
                args = loads_json(tc.arguments or "{}")
            except ValueError as exc:
                raise Refused(
                    f"the arguments of your {tc.name!r} call are not JSON: {exc}"
                ) from None
            calls.append(_call({"tool": names.get(tc.name, tc.name), "args": args}, own))
        return text.strip()[:2000], _checked_count(calls)
    try:
        value = loads_json(extract_json(text))
    except ValueError as exc:
        raise Refused(f"your answer is not JSON ({exc}); answer one JSON object") from None
    if not isinstance(value, dict) or not isinstance(value.get("calls"), list):
        raise Refused(
            'answer a JSON object {"thought": "...", "calls": [{"tool": ..., "args": ...}]}'
        )
    thought = value.get("thought")
    calls = [_call(c, own) for c in value["calls"][: MAX_CALLS + 1]]
    return (thought if isinstance(thought, str) else "")[:2000], _checked_count(calls)


def _call(raw: Any, own: dict[str, dict[str, Any]]) -> Call:
    if not isinstance(raw, dict):
        raise Refused("each call must be an object with 'tool' and 'args'")
    tool, args = raw.get("tool"), raw.get("args", {})
    if tool not in TOOLS and tool not in own:
        known = ", ".join([*TOOLS, *own])
        raise Refused(f"unknown or unavailable tool {str(tool)[:60]!r}: use one of {known}")
    if not isinstance(args, dict):
        raise Refused(f"the args of {tool} must be an object")
    if tool in own:
        errors = sorted(jsonschema.Draft202012Validator(own[tool]).iter_errors(args), key=str)
        if errors:
            path = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
            raise Refused(
                f"the args of {tool} do not fit its schema at {path}: {errors[0].message[:300]}"
            )
    return Call(str(tool), args)


def _checked_count(calls: list[Call]) -> list[Call]:
    if not calls:
        raise Refused("make at least one call (Agent, AgentSwarm or final)")
    if len(calls) > MAX_CALLS:
        raise Refused(f"at most {MAX_CALLS} calls in one turn")
    if any(c.tool == "final" for c in calls) and len(calls) > 1:
        raise Refused("final ends the task: call it alone, once your sub-agents have answered")
    return calls


def final_answer(calls: list[Call]) -> str | None:
    """The answer of a ``final`` turn (None if the turn spawns); an empty answer is refused."""
    if calls[0].tool != "final":
        return None
    answer = calls[0].args.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        raise Refused("final needs a non-empty 'answer' string")
    return answer


@dataclass(frozen=True, slots=True)
class Spawned:
    """The sub-agents of a spawning turn, and which of them run in the background."""

    children: list[TaskSpec]
    background: tuple[str, ...] = ()

    @property
    def waited_on(self) -> tuple[str, ...]:
        """What the turn waits for: its foreground sub-agents (all of them if it has none,
        since an orchestrator has nothing else to do meanwhile)."""
        fore = tuple(c.id for c in self.children if c.id not in self.background)
        return fore or tuple(c.id for c in self.children)


def spawn(parent: TaskSpec, stage: int, calls: list[Call], limits: Limits) -> Spawned:
    """The sub-agents a spawning turn starts, numbered in call order; Refused on any problem
    (nothing is spawned from a turn with one bad call)."""
    children: list[TaskSpec] = []
    background: list[str] = []
    for i, call in enumerate(calls, 1):
        where = f"call {i} ({call.tool})"
        first = len(children)
        if call.tool not in SPAWNING:  # the orchestrator's own tool: run, not spawned
            continue
        if call.tool == "Agent":
            _known(call, where, {"description", "prompt", "subagent_type", "timeout", BACKGROUND})
            prompts = [_prompt(call.args.get("prompt"), where, "prompt")]
            titles = [_text(call.args.get("description"), where, "description")]
        else:
            _known(
                call,
                where,
                {"description", "prompt_template", "items", "subagent_type", "timeout", BACKGROUND},
            )
            prompts, titles = _swarm(call, where)
        kind = _kind(call, where, limits)
        timeout = _timeout(call, where)
        for prompt, title in zip(prompts, titles, strict=True):
            children.append(
                _child(
                    parent,
                    child_id(parent.id, stage, len(children) + 1),
                    kind,
                    prompt,
                    title,
                    timeout,
                    limits,
                )
            )
        if _background(call, where):
            background.extend(c.id for c in children[first:])
    if len(children) > limits.max_subagents:
        raise Refused(
            f"{len(children)} sub-agents in one turn is over this orchestrator's limit of "
            f"{limits.max_subagents}"
        )
    return Spawned(children, tuple(background))


def _background(call: Call, where: str) -> bool:
    value = call.args.get(BACKGROUND, False)
    if not isinstance(value, bool):
        raise Refused(f"{where}: {BACKGROUND} must be true or false")
    return value


def _known(call: Call, where: str, allowed: set[str]) -> None:
    unknown = sorted(set(call.args) - allowed)
    if unknown:
        raise Refused(f"{where}: unknown arguments {unknown}; allowed: {sorted(allowed)}")


def _text(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"{where}: '{name}' must be a non-empty string")
    return value.strip()[:200]


def _prompt(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"{where}: '{name}' must be a non-empty string")
    text = value.strip()
    if len(text.split()) < MIN_PROMPT_WORDS:
        raise Refused(
            f"{where}: the {name} {text[:60]!r} is too thin to act on: a sub-agent sees nothing "
            "of your context, so write out the whole task"
        )
    return text


def _swarm(call: Call, where: str) -> tuple[list[str], list[str]]:
    template = _prompt(call.args.get("prompt_template"), where, "prompt_template")
    if ITEM not in template:
        raise Refused(f"{where}: prompt_template must contain {ITEM}")
    items = call.args.get("items")
    if not isinstance(items, list) or not MIN_ITEMS <= len(items) <= MAX_ITEMS:
        got = len(items) if isinstance(items, list) else type(items).__name__
        raise Refused(f"{where}: items must be a list of {MIN_ITEMS} to {MAX_ITEMS} (got {got})")
    texts = [i if isinstance(i, str) else json.dumps(i, ensure_ascii=False) for i in items]
    if any(not t.strip() for t in texts):
        raise Refused(f"{where}: every item must be non-empty")
    label = call.args.get("description")
    base = label.strip()[:120] if isinstance(label, str) and label.strip() else "swarm"
    return [template.replace(ITEM, t) for t in texts], [f"{base}: {t[:60]}" for t in texts]


def _kind(call: Call, where: str, limits: Limits) -> str:
    kind = call.args.get("subagent_type", "agent")
    if kind not in SUBAGENT_TYPES:
        raise Refused(f"{where}: subagent_type must be one of {', '.join(SUBAGENT_TYPES)}")
    if kind == "orchestrator" and limits.depth + 1 >= limits.max_depth:
        raise Refused(
            f"{where}: orchestrators nest at most {limits.max_depth} deep; use 'agent' here"
        )
    return str(kind)


def _timeout(call: Call, where: str) -> float | None:
    value = call.args.get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 86400:
        raise Refused(f"{where}: timeout must be a number of seconds from 1 to 86400")
    return float(value)


def _child(
    parent: TaskSpec,
    task_id: str,
    kind: str,
    prompt: str,
    title: str,
    timeout: float | None,
    limits: Limits,
) -> TaskSpec:
    config = parent.config
    data: dict[str, Any] = {"id": task_id, "kind": kind, "prompt": prompt, "title": title}
    if timeout is not None:
        data["timeout_s"] = timeout
    if kind == "orchestrator":
        keep = {
            k: v for k, v in config.items() if k in ("max_depth", "subagent_steps", "max_subagents")
        }
        data.update(config=keep, max_steps=parent.max_steps, tools=parent.tools)
    else:
        if isinstance(config.get("subagent_steps"), int):
            data["max_steps"] = config["subagent_steps"]
        if kind == "agent":
            data["tools"] = parent.tools
    try:
        return TaskSpec.model_validate(data)
    except ValueError as exc:
        raise Refused(f"sub-agent {task_id!r} does not fit: {str(exc)[:200]}") from None

"""The sim provider's orchestrator: deterministic turns for the ``orchestrator`` kind, offline.

Asked for a turn (recognised by the turn schema's title), it plays a three-turn routine read
from the prompt alone: first (when the turn schema offers MCP or fetch tools) one call of each
not yet called, at once, then one ``AgentSwarm`` per 50 items of the task's list (the task's
``-``, ``*`` or numbered lines; three aspects of the task if it has no list), then one ``Agent``
that cross-checks what came back, then ``final`` with an answer that counts the sub-agents'
results. With one step left it answers ``final`` at once. Every answer is labelled simulated;
the local fake servers use the same routine to act as an orchestrator through the real clients.
"""

from __future__ import annotations

import json
import re
from typing import Any

from swarm.providers.sim_agent import BUILTIN, tool_args

TURN_TITLE = "swarm orchestrator turn v1"
"""Must equal ``workers.orchestrator_turns.TURN_TITLE`` (a test pins it); the provider layer
does not import the workers."""
LABEL = "[simulated]"
CHUNK = 50
_ITEM = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+(.+?)\s*$", re.MULTILINE)
_RESULTS = re.compile(r"^## Turn (\d+) results$", re.MULTILINE)
_OUTCOME = re.compile(r"^### \S+(?: \(.*\))?: (succeeded|FAILED)$", re.MULTILINE)
_LOOKED = re.compile(r"^### (\S+) \{.*$", re.MULTILINE)
_LEFT = re.compile(r"^You have (\d+) step\(s\) left", re.MULTILINE)


def is_turn_schema(schema: dict[str, Any]) -> bool:
    return str(schema.get("title", "")) == TURN_TITLE


def turn(prompt: str, schema: dict[str, Any] | None = None) -> str:
    """The next turn, as the JSON text a model would answer."""
    task = _task(prompt)
    first = task.splitlines()[0][:160] if task else "(empty task)"
    done = len(_RESULTS.findall(prompt))
    left = _LEFT.search(prompt)
    if (left and int(left.group(1)) < 2) or done >= 2:
        return _answer("I have what I need.", [_final(first, prompt)])
    looked = set(_LOOKED.findall(prompt))
    outside = {n: v for n, v in _outside_tools(schema or {}).items() if n not in looked}
    if outside and done == 0:
        calls = [(name, tool_args(v, first, prompt)) for name, v in outside.items()]
        return _answer("Look the task up with my own tools before splitting it.", calls)
    if done == 1:
        check = {
            "description": "cross-check the findings",
            "prompt": (
                f"Cross-check these findings for the task '{first}' and list any contradictions "
                f"or gaps: {_digest(prompt)}"
            ),
            "subagent_type": "llm",
        }
        return _answer("Check what the sub-agents found before answering.", [("Agent", check)])
    items = [m.group(1) for m in _ITEM.finditer(task)] or [
        f"{aspect} of: {first}" for aspect in ("background", "evidence and figures", "open risks")
    ]
    calls = [
        (
            "AgentSwarm",
            {
                "description": f"research part {n + 1}",
                "prompt_template": (
                    f"Research {{{{item}}}} for the task '{first}'. Report the three most "
                    "relevant facts, with figures where there are any."
                ),
                "items": chunk,
            },
        )
        for n, chunk in enumerate(_chunks(items))
    ]
    return _answer(f"Fan out over {len(items)} items, one sub-agent each.", calls)


def _outside_tools(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The MCP and fetch tools a turn schema offers, by name (each a ``tool``/``args``
    variant, as the agent's action schema has them)."""
    items = schema.get("properties", {}).get("calls", {}).get("items", {})
    variants = items.get("anyOf", []) if isinstance(items, dict) else []
    found = {}
    for v in variants:
        name = v.get("properties", {}).get("tool", {}).get("const")
        if isinstance(name, str) and name not in BUILTIN:
            found[name] = v
    return found


def _task(prompt: str) -> str:
    head, _, rest = prompt.partition("# Task\n")
    body = rest if rest else head
    return re.split(r"\n#{1,3} ", body, maxsplit=1)[0].strip()


def _chunks(items: list[str]) -> list[list[str]]:
    if len(items) < 2:
        items = [*items, f"the opposite view on {items[0]}" if items else "the task itself"]
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        chunks[-1].insert(0, chunks[-2].pop())
    return chunks


def _digest(prompt: str) -> str:
    outcomes = _OUTCOME.findall(prompt)
    ok = outcomes.count("succeeded")
    return f"{ok} sub-agent(s) reported, {len(outcomes) - ok} failed"


def _final(first: str, prompt: str) -> tuple[str, dict[str, Any]]:
    looked = sorted(set(_LOOKED.findall(prompt)))
    also = f"; looked up with {', '.join(looked)}" if looked else ""
    answer = f"{LABEL} Orchestrated answer to: {first} ({_digest(prompt)}{also})."
    return "final", {"answer": answer}


def _answer(thought: str, calls: list[tuple[str, dict[str, Any]]]) -> str:
    return json.dumps(
        {
            "thought": f"{LABEL} {thought}",
            "calls": [{"tool": tool, "args": args} for tool, args in calls],
        },
        ensure_ascii=False,
    )

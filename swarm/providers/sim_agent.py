"""The sim provider's agent: plausible, deterministic actions for the ``agent`` kind, offline.

When the sim is asked for JSON under the agent's action schema (recognised by its title) it
plays a small research routine, one action per step, chosen from the prompt alone: call each
MCP or fetch tool the task offers once (arguments made from the task's words and the first URL in
its prompt), compute
something about the task with ``python``, write notes with ``write_file``, ``list_files``, read
a dependency's result with ``read_result`` (or its notes with ``read_file``), then ``finish``
with an answer that quotes what it computed. Asked for a final answer, it finishes at once.
Offered native tools, it answers with tool calls instead, and calls all the MCP and fetch
tools in its first turn at once (a parallel turn).
The same prompt always gives the same action, and every answer is labelled simulated.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from swarm.mcp.names import native_name
from swarm.providers.base import ToolCall

AGENT_SCHEMA_TITLE = "swarm agent action v1"
"""Must equal ``workers.actions.ACTION_TITLE`` (a test pins it); the provider layer does not
import the workers."""
NOTES = "notes.md"
ROUTINE_STEPS = 9
"""Steps of the routine without MCP tools or ``extra`` actions: 4 tools and 5 model calls."""
BUILTIN = {"python", "read_result", "read_file", "write_file", "list_files", "finish"}
FETCH_HEAD = re.compile(r"^(url|status|content-type): ")
"""The header lines of a fetch observation (the page's text follows them)."""
URL = re.compile(r"https?://[^\s)\]>\"']+")


def is_agent_schema(schema: dict[str, Any]) -> bool:
    return str(schema.get("title", "")).startswith(AGENT_SCHEMA_TITLE)


def act(prompt: str, schema: dict[str, Any], rng: random.Random, extra: int = 0) -> str:
    """The next action, as the JSON text a model would answer; ``extra`` lengthens the routine
    by that many actions (notes written and read back, each two steps)."""
    tool, thought, args = _turn(prompt, schema, rng, extra=extra)[0]
    return json.dumps({"thought": f"[simulated] {thought}", "tool": tool, "args": args})


def calls(
    prompt: str, schema: dict[str, Any], rng: random.Random, extra: int = 0
) -> tuple[ToolCall, ...]:
    """The next actions as native tool calls: the same routine, except that the first turn
    calls every MCP and fetch tool at once (a parallel turn)."""
    return tuple(
        ToolCall(f"call_{i}", native_name(tool), json.dumps(args))
        for i, (tool, _, args) in enumerate(_turn(prompt, schema, rng, parallel=True, extra=extra))
    )


def _turn(
    prompt: str,
    schema: dict[str, Any],
    rng: random.Random,
    *,
    parallel: bool = False,
    extra: int = 0,
) -> list[tuple[str, str, dict[str, Any]]]:
    sections = _sections(prompt)
    task = prompt.strip().splitlines()[0] if prompt.strip() else "(empty task)"
    steps = _steps(prompt)
    done = len(re.findall(r"^### Step \d+:", steps, flags=re.MULTILINE))
    tools = {v["properties"]["tool"]["const"]: v for v in schema.get("oneOf", [])}
    deps = re.findall(
        r"^### (\S+)$", sections.get("Results of the tasks this one depends on", ""), re.M
    )
    outside = [name for name in tools if name not in BUILTIN]
    routine = [
        *(
            (name, f"Ask the {name} tool.", tool_args(tools[name], task, prompt))
            for name in outside
        ),
        ("python", "Compute a few figures about the task first.", {"code": _code(task)}),
        (
            "write_file",
            "Keep notes of what I found.",
            {"path": NOTES, "content": _notes(task, steps)},
        ),
        ("list_files", "Check what is in my workspace.", {"path": "."}),
        *_more(task, extra),
        _reading(deps),
    ]
    if parallel and done == 0 and len(outside) > 1:
        return routine[: len(outside)]
    if done < len(routine) and routine[done][0] in tools:
        return [routine[done]]
    answer_schema = tools["finish"]["properties"]["args"]["properties"]["answer"]
    answer = _answer(task, steps, answer_schema, rng)
    return [("finish", "I have what I need.", {"answer": answer})]


def tool_args(variant: dict[str, Any], task: str, prompt: str) -> dict[str, Any]:
    """Arguments for an MCP or fetch tool from its schema: the task's words for strings, the
    first URL in the prompt for a ``url``, the smallest value allowed for numbers."""
    schema = variant["properties"]["args"]
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    urls = URL.findall(prompt)
    args: dict[str, Any] = {}
    for key in schema.get("required", list(props)) if isinstance(schema, dict) else []:
        prop = props.get(key, {})
        kind = prop.get("type", "string") if isinstance(prop, dict) else "string"
        if key == "url" and urls:
            args[key] = urls[0]
        elif kind in ("integer", "number"):
            args[key] = prop.get("minimum", 1)
        elif kind == "boolean":
            args[key] = True
        else:
            args[key] = " ".join(task.split()[:8])
    return args


def _found(steps: str) -> str:
    """The first line of what each outside tool answered, as the transcript shows it."""
    lines = []
    for tool, body in re.findall(
        r"^### Step \d+: (\S+)\naction: .*?\nobservation:\n(.*?)(?=^### Step |\Z)",
        steps,
        flags=re.MULTILINE | re.DOTALL,
    ):
        if tool not in BUILTIN:
            text = [ln for ln in body.splitlines() if ln.strip() and not FETCH_HEAD.match(ln)]
            first = (text or [""])[0][:200]
            lines.append(f"{tool}: {first}")
    return "; ".join(lines)


def _steps(prompt: str) -> str:
    """The transcript: from its heading to the last ``## Now`` (an observation may hold
    Markdown headings of its own, a fetched page's say)."""
    start = prompt.find("\n## Steps so far\n")
    if start < 0:
        return ""
    end = prompt.rfind("\n## Now")
    return prompt[start + len("\n## Steps so far\n") : end if end > start else len(prompt)]


def _sections(prompt: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in re.split(r"^## ", prompt, flags=re.MULTILINE)[1:]:
        title, _, body = part.partition("\n")
        out[title.strip()] = body
    return out


def _code(task: str) -> str:
    return (
        "import hashlib, json\n"
        f"text = {task!r}\n"
        "digest = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)\n"
        "print(json.dumps({'words': len(text.split()), 'chars': len(text), "
        "'estimate': 1000 + digest % 9000}))\n"
    )


def _computed(steps: str) -> str:
    """The JSON line the first python step printed, if the transcript still shows it."""
    match = re.search(r"^(\{.*\})$", steps, flags=re.MULTILINE)
    return match.group(1) if match else "(nothing computed)"


def _notes(task: str, steps: str) -> str:
    return f"# Notes [simulated]\n\nTask: {task}\n\nComputed: {_computed(steps)}\n"


def _more(task: str, extra: int) -> list[tuple[str, str, dict[str, Any]]]:
    """``extra`` more actions: a finding noted, then read back, each with its own file (no two
    alike, so the agent's loop detector lets them through)."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for k in range(extra):
        path = f"finding-{k // 2 + 1:03d}.md"
        if k % 2 == 0:
            content = f"# Finding {k // 2 + 1} [simulated]\n\n{task[:200]}\n"
            out.append(("write_file", "Note one more finding.", {"path": path, "content": content}))
        else:
            out.append(("read_file", "Check the finding I noted.", {"path": path}))
    return out


def _reading(deps: list[str]) -> tuple[str, str, dict[str, Any]]:
    if deps:
        return "read_result", f"Read what {deps[0]} found.", {"task_id": deps[0]}
    return "read_file", "Re-read my notes.", {"path": NOTES}


def _answer(task: str, steps: str, schema: dict[str, Any], rng: random.Random) -> Any:
    if schema.get("type", "string") == "string" and "properties" not in schema:
        found = _found(steps)
        tools = f" Found with tools: {found}." if found else ""
        return f"[simulated] {task[:120]} — computed with python: {_computed(steps)}.{tools}"
    from swarm.providers.sim import fake_json  # the sim module imports this one

    return fake_json(schema, rng)

"""The ``orchestrator`` kind: K2.6 as a live orchestrator, spawning sub-agents through Kimi's two
tools, ``Agent`` and ``AgentSwarm``, until it answers with ``final``.

One attempt is one turn of the orchestrator. A spawning turn puts its sub-agents in
:attr:`TaskContext.expansion` (ids ``<id>:s<stage>-<n>``), waits on them
(:attr:`TaskContext.wait_on`) and records the turn itself (its thought, its checked calls, the
sub-agents' ids and the steps it took) in the task's own ``config.history``, in the same
``TasksAdded`` record as the sub-agents: the runtime records both before any sub-agent starts.
The orchestrator then waits (status ``waiting``, reason ``spawn``), holding no worker slot and
no steps, until every sub-agent has ended whatever its outcome, and runs again: a failed
sub-agent comes back as a failure in the tool results, not as a skipped orchestrator. The
next turn's conversation is rebuilt from the recorded history and the sub-agents' stored final
messages (or errors), never re-asked. An answer that is not a valid turn is re-asked within the
task's step allowance, quoting the problem; ``max_steps`` counts every turn's steps together
(Kimi's orchestrator budget), and the last step can only be ``final``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from swarm.errors import Problem, TaskError
from swarm.plan import TaskSpec
from workers.base import TaskContext
from workers.orchestrator_tools import OrchestratorTools, render
from workers.orchestrator_turns import (
    ITEM,
    MAX_ITEMS,
    MIN_ITEMS,
    SUBAGENT_TYPES,
    TOOLS,
    Call,
    Limits,
    Refused,
    final_answer,
    native_tools,
    parse_turn,
    spawn,
    turn_schema,
)
from workers.rules import orchestrator as rules
from workers.rules.orchestrator import DEFAULT_MAX_DEPTH, depth_of
from workers.sandbox import ProcessSandbox, Sandbox

DEFAULT_STEPS = 15
"""Kimi's orchestrator budget in its BrowseComp evaluation."""
DEFAULT_MAX_SUBAGENTS = 300
RESULT_CHARS = 600
"""How much of each sub-agent's final message a later turn's prompt quotes."""

SYSTEM = f"""You are an orchestrator. You do not do the work yourself: you split the task into \
sub-tasks and give each to a sub-agent, which starts with no context but the prompt you \
write, works on its own, and sends back only its final message. Sub-agents started in the \
same turn run at the same time; you see their final messages in your next turn.

Tools:
- Agent(description, prompt, subagent_type?, timeout?, run_in_background?): one sub-agent \
with a complete prompt.
- AgentSwarm(prompt_template, items, description?, subagent_type?, timeout?, \
run_in_background?): one sub-agent per item ({MIN_ITEMS} to {MAX_ITEMS} items), each prompt the \
template with {ITEM} replaced by the item.
- final(answer): your answer to the task, once you have what you need.
- your own tools (listed with the task): call them yourself, to look something up or check a \
sub-agent's work; each call is one of your steps, and its result comes in your next turn.
subagent_type is one of {", ".join(SUBAGENT_TYPES)} (default agent); timeout is in seconds. \
Your next turn comes when the turn's sub-agents have answered; those started with \
run_in_background: true are not waited for, and their answers come in a later turn.

Answer with one JSON object and nothing else:
{{"thought": "...", "calls": [{{"tool": "AgentSwarm", "args": {{...}}}}, ...]}}
Several spawning calls in one turn run together; final must be the only call of its turn."""


class OrchestratorWorker:
    kind: ClassVar[str] = "orchestrator"
    description: ClassVar[str] = (
        "an orchestrator agent: spawns sub-agents with Kimi's Agent and AgentSwarm tools, turn "
        "by turn, waits for their final messages and answers with final"
    )
    default_steps: ClassVar[int] = DEFAULT_STEPS

    def __init__(self, sandbox: Sandbox | None = None) -> None:
        self.sandbox: Sandbox = sandbox or ProcessSandbox()

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        spec = ctx.spec
        problems = self.check(spec)
        if problems:
            raise TaskError(str(problems[0]), retryable=False)
        history: list[dict[str, Any]] = list(spec.config.get("history", []))
        total = spec.max_steps or DEFAULT_STEPS
        used = sum(int(turn.get("steps", 0)) for turn in history)
        limits = Limits(
            depth=depth_of(spec.id),
            max_depth=int(spec.config.get("max_depth", DEFAULT_MAX_DEPTH)),
            max_subagents=int(spec.config.get("max_subagents", DEFAULT_MAX_SUBAGENTS)),
        )
        tools = await OrchestratorTools.open(ctx, self.sandbox)
        unended = _unended_wait(ctx, history)
        if unended:  # the last turn was recorded but its wait was not: wait, ask nothing
            ctx.wait_on = unended  # (its tool calls, given back just now, are in that turn)
            return ""
        stage, problem = len(history) + 1, ""
        while True:
            left = min(ctx.steps_left, total - used - len(ctx.steps))
            if left < 1:
                raise TaskError(
                    f"the orchestrator used its {total} steps without a final answer"
                    + (f" (last problem: {problem})" if problem else ""),
                    retryable=False,
                    hint="raise the orchestrator's max_steps, or make its task clearer",
                )
            prompt = build_prompt(ctx, history, left, problem, tools)
            response = await ctx.call_model(
                ctx.request(
                    prompt,
                    system_prompt=_system(ctx),
                    json_schema=turn_schema(tools.schemas),
                    tools=native_tools(tools.schemas, tools.descriptions),
                )
            )
            try:
                thought, calls = parse_turn(response.text, response.tool_calls, tools.schemas)
                answer = final_answer(calls)
                own = [c for c in calls if c.tool not in TOOLS]  # its own tools' calls
                calls = [c for c in calls if c.tool in TOOLS]
                if answer is None:
                    _check_steps(left, own)
                    spawned = spawn(spec, stage, calls, limits)
            except Refused as exc:
                problem = str(exc)
                ctx.annotate_step({"turn": stage, "refused": problem})
                continue
            problem = ""
            if own:
                ctx.annotate_step({"turn": stage, "tool_calls": len(own)})
                await tools.use(own, thought)
                if not calls:
                    continue  # the tools' results come in the next model step of this turn
            turn: dict[str, Any] = {"thought": thought, "calls": [c.to_json() for c in calls]}
            if tools.done:
                turn["tools"] = list(tools.done)
            if answer is not None:
                running = _running(ctx, history)
                if not running or left < 2:
                    ctx.annotate_step({"turn": stage, "final": True})
                    return answer
                # background sub-agents are still at work: wait for them, then answer again
                ctx.annotate_step({"turn": stage, "final": "deferred", "waits_for": len(running)})
                turn.update(children=[], deferred_final=True, steps=len(ctx.steps))
                turn["waits_on"] = list(running)
                ctx.wait_on = running
            else:
                if not own:
                    ctx.annotate_step({"turn": stage, "spawned": len(spawned.children)})
                turn.update(
                    children=[c.id for c in spawned.children],
                    background=list(spawned.background),
                    steps=len(ctx.steps),
                )
                turn["waits_on"] = list(spawned.waited_on)
                ctx.expansion.extend(spawned.children)
                ctx.wait_on = spawned.waited_on
            ctx.own_config = {**spec.config, "history": [*history, turn]}
            return ""  # not a result: the runtime records the turn and waits for the sub-agents


def _check_steps(left: int, own: list[Call]) -> None:
    """Refuse a turn that would leave no step for the next one (``left`` counts this one)."""
    if left < 2:
        raise Refused("this is your last step: call final with your answer now")
    if own and len(own) > left - 2:
        room = left - 2
        raise Refused(
            f"{len(own)} tool call(s) would leave you no step to answer: make at most {room}"
            if room
            else "you have one step left after this one: call final with your answer now"
        )


def _unended_wait(ctx: TaskContext, history: list[dict[str, Any]]) -> tuple[str, ...]:
    """What the last recorded turn waits on and has not ended: empty, unless the process died
    between recording a turn and recording its wait (then the wait is made now)."""
    if not history:
        return ()
    waits_on = history[-1].get("waits_on", [])
    return tuple(c for c in waits_on if c not in ctx.inputs and c not in ctx.failures)


def _running(ctx: TaskContext, history: list[dict[str, Any]]) -> tuple[str, ...]:
    """The sub-agents spawned so far that have not ended (background ones)."""
    spawned = [child for turn in history for child in turn.get("children", [])]
    return tuple(c for c in spawned if c not in ctx.inputs and c not in ctx.failures)


def _system(ctx: TaskContext) -> str:
    own = ctx.params.system_prompt
    return f"{own}\n\n{SYSTEM}" if own else SYSTEM


def build_prompt(
    ctx: TaskContext,
    history: list[dict[str, Any]],
    left: int,
    problem: str,
    tools: OrchestratorTools | None = None,
) -> str:
    """The orchestrator's conversation, rebuilt from its recorded turns (with the tool calls
    each made), the sub-agents' stored final messages (or their failures), and this turn's
    tool calls so far."""
    spec = ctx.spec
    parts = [f"# Task\n{spec.prompt}"]
    if tools is not None:
        parts.append(f"# Your own tools (each call is one step)\n{tools.listing()}")
    upstream = {k: v for k, v in ctx.inputs.items() if not k.startswith(spec.id + ":")}
    if upstream:
        parts.append("# Results of the tasks this one depends on")
        parts.extend(f"## {k}\n{v[: RESULT_CHARS * 4]}" for k, v in upstream.items())
    for n, turn in enumerate(history, 1):
        parts.extend(render(turn.get("tools", []), f"## Turn {n} tool calls"))
        calls = json.dumps(
            {"thought": turn.get("thought", ""), "calls": turn.get("calls", [])}, ensure_ascii=False
        )
        parts.append(f"## Turn {n}\n{calls}")
        parts.append(f"## Turn {n} results")
        parts.extend(_outcome(ctx, child) for child in turn.get("children", []))
        if turn.get("deferred_final"):
            parts.append(
                "(final waited for the sub-agents still running in the background; their "
                "answers are in the results above: answer final again, or spawn more)"
            )
    if tools is not None:
        parts.extend(render(tools.done, f"## Turn {len(history) + 1} tool calls so far"))
    parts.append(
        f"# Your turn {len(history) + 1}\nYou have {left} step(s) left, this one included"
        + (": call final now." if left < 2 else ".")
    )
    if problem:
        parts.append(f"Your previous answer was refused: {problem}\nAnswer again.")
    return "\n\n".join(parts)


def _outcome(ctx: TaskContext, child: str) -> str:
    title = ctx.dep_titles.get(child)
    head = f"### {child}" + (f" ({title})" if title else "")
    if child in ctx.inputs:
        return f"{head}: succeeded\n{ctx.inputs[child][:RESULT_CHARS]}"
    if child in ctx.failures:
        return f"{head}: FAILED\n{ctx.failures[child][:RESULT_CHARS]}"
    return f"{head}: still running in the background"

"""The ``orchestrator`` kind's turns: Kimi's Agent / AgentSwarm / final read from untrusted
answers, every problem refused with a message the model can act on; the sim's routine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swarm.plan import TaskSpec
from swarm.providers import sim_orchestrator
from swarm.providers.base import ToolCall
from workers.orchestrator import OrchestratorWorker, depth_of
from workers.orchestrator_turns import (
    TURN_TITLE,
    Limits,
    Refused,
    final_answer,
    parse_turn,
    spawn,
    stage_of,
)

ROOT = TaskSpec(id="o", kind="orchestrator", prompt="Compare things", tools=["fetch"])
LIMITS = Limits(depth=0, max_depth=2, max_subagents=300)
PROMPT = "Research this one thing carefully"


def turn(*calls: tuple[str, dict[str, Any]]) -> str:
    return json.dumps({"thought": "t", "calls": [{"tool": t, "args": a} for t, a in calls]})


def children(*calls: tuple[str, dict[str, Any]], limits: Limits = LIMITS) -> list[TaskSpec]:
    _, parsed = parse_turn(turn(*calls))
    return spawn(ROOT, 1, parsed, limits).children


def test_the_sim_and_the_worker_agree_on_the_turn_schema_title() -> None:
    assert sim_orchestrator.TURN_TITLE == TURN_TITLE


def test_agent_and_agent_swarm_become_numbered_sub_agents() -> None:
    specs = children(
        ("Agent", {"description": "overview", "prompt": PROMPT, "timeout": 30}),
        ("AgentSwarm", {"prompt_template": "Study {{item}} in depth", "items": ["a", "b", 3]}),
    )
    assert [s.id for s in specs] == ["o:s1-1", "o:s1-2", "o:s1-3", "o:s1-4"]
    assert specs[0].title == "overview" and specs[0].timeout_s == 30
    assert [s.prompt for s in specs[1:]] == [
        "Study a in depth",
        "Study b in depth",
        "Study 3 in depth",
    ]
    assert all(s.kind == "agent" and s.tools == ["fetch"] and not s.deps for s in specs)
    assert [stage_of(s.id) for s in specs[:2]] == [("o", 1), ("o", 1)]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("no json here", "not JSON"),
        ('{"calls": "x"}', "answer a JSON object"),
        (turn(("Search", {})), "unknown or unavailable tool 'Search'"),
        (turn(("final", {"answer": "a"}), ("Agent", {})), "call it alone"),
        ('{"calls": []}', "at least one call"),
    ],
)
def test_an_answer_that_is_not_a_turn_is_refused(answer: str, problem: str) -> None:
    with pytest.raises(Refused, match=problem):
        parse_turn(answer)


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (("AgentSwarm", {"prompt_template": "Do {{item}} well", "items": ["one"]}), "2 to 50"),
        (
            ("AgentSwarm", {"prompt_template": "Do {{item}} well", "items": list(range(51))}),
            r"got 51",
        ),
        (("AgentSwarm", {"prompt_template": "Do it well", "items": ["a", "b"]}), "{{item}}"),
        (("Agent", {"description": "x", "prompt": "   "}), "non-empty"),
        (("Agent", {"description": "x", "prompt": "search"}), "too thin"),
        (("Agent", {"prompt": PROMPT}), "'description'"),
        (("Agent", {"description": "x", "prompt": PROMPT, "model": "y"}), "unknown arguments"),
        (("Agent", {"description": "x", "prompt": PROMPT, "subagent_type": "coder"}), "one of"),
        (("Agent", {"description": "x", "prompt": PROMPT, "timeout": 0}), "timeout"),
    ],
)
def test_a_bad_call_is_refused_and_nothing_is_spawned(
    call: tuple[str, dict[str, Any]], problem: str
) -> None:
    with pytest.raises(Refused, match=problem):
        children(("Agent", {"description": "fine", "prompt": PROMPT}), call)


def test_nesting_stops_at_the_depth_limit() -> None:
    nested = ("Agent", {"description": "sub", "prompt": PROMPT, "subagent_type": "orchestrator"})
    (child,) = children(nested)
    assert child.kind == "orchestrator" and child.max_steps == ROOT.max_steps
    with pytest.raises(Refused, match="nest at most 2"):
        children(nested, limits=Limits(depth=1, max_depth=2, max_subagents=300))
    assert depth_of("o") == 0 and depth_of("o:s1-2") == 1 and depth_of("o:s1-2:s3-1") == 2
    problems = OrchestratorWorker().check(
        TaskSpec(id="o:s1-2:s1-1", kind="orchestrator", prompt="p")
    )
    assert any("nest at most" in p.message for p in problems)


def test_a_turn_over_the_sub_agent_limit_is_refused() -> None:
    many = ("AgentSwarm", {"prompt_template": "Do {{item}} well", "items": list(range(50))})
    with pytest.raises(Refused, match="over this orchestrator's limit of 60"):
        children(many, many, limits=Limits(depth=0, max_depth=2, max_subagents=60))


def test_native_tool_calls_are_read_like_text_calls() -> None:
    calls = (ToolCall("c1", "Agent", json.dumps({"description": "d", "prompt": PROMPT})),)
    _, parsed = parse_turn("", calls)
    assert spawn(ROOT, 2, parsed, LIMITS).children[0].id == "o:s2-1"
    with pytest.raises(Refused, match="not JSON"):
        parse_turn("", (ToolCall("c1", "Agent", "{bad"),))


def test_final_needs_an_answer() -> None:
    assert final_answer(parse_turn(turn(("final", {"answer": "42"})))[1]) == "42"
    with pytest.raises(Refused, match="non-empty 'answer'"):
        final_answer(parse_turn(turn(("final", {"answer": ""})))[1])


def test_the_sim_fans_out_checks_then_finishes() -> None:
    items = "\n".join(f"- item {i}" for i in range(120))
    first = json.loads(sim_orchestrator.turn(f"# Task\nSurvey\n{items}\n\n# Your turn 1\n"))
    sizes = [len(c["args"]["items"]) for c in first["calls"]]
    assert [c["tool"] for c in first["calls"]] == ["AgentSwarm"] * 3 and sizes == [50, 50, 20]
    done = "## Turn 1 results\n### o:s1-1: succeeded\nok\n### o:s1-2: FAILED\nboom"
    second = json.loads(sim_orchestrator.turn(f"# Task\nSurvey\n\n{done}\n\n# Your turn 2\n"))
    assert second["calls"][0]["tool"] == "Agent"
    assert "1 sub-agent(s) reported, 1 failed" in second["calls"][0]["args"]["prompt"]
    last = "You have 1 step(s) left, this one included: call final now."
    third = json.loads(sim_orchestrator.turn(f"# Task\nSurvey\n\n# Your turn 1\n{last}"))
    assert (
        third["calls"][0]["tool"] == "final"
        and "[simulated]" in third["calls"][0]["args"]["answer"]
    )


def test_the_sim_keeps_every_swarm_call_within_kimis_bounds() -> None:
    items = "\n".join(f"{i}. thing {i}" for i in range(51))
    first = json.loads(sim_orchestrator.turn(f"# Task\nSurvey\n{items}\n"))
    assert [len(c["args"]["items"]) for c in first["calls"]] == [49, 2]
    _, parsed = parse_turn(json.dumps(first))
    assert len(spawn(ROOT, 1, parsed, LIMITS).children) == 51


def test_a_turn_waits_for_its_foreground_sub_agents_only() -> None:
    agent = {"description": "d", "prompt": PROMPT}
    swarm = {"prompt_template": "Study {{item}} in depth", "items": ["a", "b"]}
    _, parsed = parse_turn(
        turn(("Agent", agent), ("AgentSwarm", {**swarm, "run_in_background": True}))
    )
    spawned = spawn(ROOT, 1, parsed, LIMITS)
    assert spawned.background == ("o:s1-2", "o:s1-3") and spawned.waited_on == ("o:s1-1",)
    _, alone = parse_turn(turn(("Agent", {**agent, "run_in_background": True})))
    assert spawn(ROOT, 1, alone, LIMITS).waited_on == ("o:s1-1",)  # nothing else to wait for
    with pytest.raises(Refused, match="run_in_background must be true or false"):
        children(("Agent", {**agent, "run_in_background": "yes"}))

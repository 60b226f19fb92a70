"""The local fake servers scripted to act as an orchestrator through the real clients: a turn
prompt (recognised by the orchestrator's system prompt) is answered with the sim's turn
(:mod:`swarm.providers.sim_orchestrator`), every other prompt with the fake's usual echo.

The fakes' echo is not an agent's JSON action, so the sub-agents are made ``llm`` tasks (one
call each) rather than ``agent`` ones."""

from __future__ import annotations

import json
from typing import Any

from swarm.providers import sim_orchestrator
from swarm.testing.fake_predictions import Script, script_for

MARKER = "You are an orchestrator."
"""How ``workers/orchestrator.py``'s system prompt begins."""


def is_turn(inputs: dict[str, Any]) -> bool:
    return MARKER in str(inputs.get("system_prompt", ""))


def turn_text(prompt: str) -> str:
    """The sim's turn, its sub-agents one-call ``llm`` tasks."""
    answer = json.loads(sim_orchestrator.turn(prompt))
    for call in answer["calls"]:
        if call["tool"] != "final":
            call["args"]["subagent_type"] = "llm"
    return json.dumps(answer, ensure_ascii=False)


def orchestrator_script(inputs: dict[str, Any], token_delay_s: float = 0.001) -> Script:
    """A :class:`~swarm.testing.fake_replicate.FakeReplicate` script (``fake.script = ...``):
    turns streamed a few characters a token, anything else as the fake answers it."""
    if not is_turn(inputs):
        return script_for(inputs, token_delay_s)
    text = turn_text(str(inputs.get("prompt", "")))
    return Script([text[i : i + 8] for i in range(0, len(text), 8)], token_delay_s=token_delay_s)

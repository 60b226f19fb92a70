"""The agent's action format: schema, parsing and the problems told to the model."""

from __future__ import annotations

import json

import jsonschema
import pytest

from swarm.providers import sim_agent
from workers.actions import ACTION_TITLE, TOOLS, Action, action_schema, parse_action


@pytest.mark.parametrize("final", [False, True])
def test_the_action_schema_is_a_json_schema(final: bool) -> None:
    schema = action_schema({"type": "object"}, final=final)
    jsonschema.Draft202012Validator.check_schema(schema)
    tools = [v["properties"]["tool"]["const"] for v in schema["oneOf"]]
    assert tools == (["finish"] if final else list(TOOLS))
    assert schema["title"].startswith(ACTION_TITLE)


def test_the_sim_recognises_the_schema() -> None:
    assert sim_agent.AGENT_SCHEMA_TITLE == ACTION_TITLE
    assert sim_agent.is_agent_schema(action_schema(None, final=True))


def test_a_valid_action_parses() -> None:
    schema = action_schema(None, final=False)
    text = json.dumps({"thought": "t", "tool": "python", "args": {"code": "print(1)"}})
    assert parse_action(text, schema) == Action("python", {"code": "print(1)"}, "t")
    fenced = "```json\n" + json.dumps({"tool": "list_files", "args": {}}) + "\n```"
    assert parse_action(fenced, schema) == Action("list_files", {})


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("call python", "not valid JSON"),
        ("[1, 2]", "one JSON object"),
        ('{"tool": "rm", "args": {}}', "unknown or unavailable tool 'rm'"),
        ('{"tool": "python"}', "'args' is a required property"),
        ('{"tool": "python", "args": {"code": ""}}', "at args/code"),
        ('{"tool": "read_file", "args": {"path": "a", "mode": "w"}}', "Additional properties"),
        ('{"tool": "finish", "args": {"answer": ""}}', "at args/answer"),
    ],
)
def test_malformed_actions_say_what_is_wrong(answer: str, problem: str) -> None:
    result = parse_action(answer, action_schema(None, final=False))
    assert isinstance(result, str) and problem in result


def test_only_finish_on_the_final_step() -> None:
    result = parse_action('{"tool": "list_files", "args": {}}', action_schema(None, final=True))
    assert result == "unknown or unavailable tool 'list_files'; use one of: finish"


def test_the_loop_key_ignores_thought_and_argument_order() -> None:
    a = Action("write_file", {"path": "a", "content": "b"}, "first")
    b = Action("write_file", {"content": "b", "path": "a"}, "second")
    assert a.key() == b.key()
    assert a.key() != Action("write_file", {"path": "a", "content": "c"}).key()

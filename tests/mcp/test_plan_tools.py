"""Plans with MCP servers, fetch settings and task tools: what `swarm validate` accepts and
the problems it names."""

from __future__ import annotations

from typing import Any

import pytest

from swarm.errors import PlanError
from swarm.validation import validate_data


def plan(tools: list[str], servers: dict[str, Any] | None = None, kind: str = "agent") -> Any:
    task = {"id": "a", "kind": kind, "prompt": "p", "tools": tools}
    return {"goal": "g", "tasks": [task], "mcp_servers": servers or {}}


KB = {"kb": {"command": "kb-server", "env": ["KB_TOKEN"]}}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PlanError) as caught:
        validate_data(data)
    return [str(p) for p in caught.value.problems]


def test_valid_servers_and_globs() -> None:
    web = {"web": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "WEB_AUTH"}}}
    parsed = validate_data(plan(["kb.*", "web.search", "fetch", "k?.x"], {**KB, **web}))
    assert parsed.tasks[0].tools == ["kb.*", "web.search", "fetch", "k?.x"]
    assert parsed.mcp_servers["kb"].max_concurrency == 16


def test_unknown_server_in_a_glob_is_named() -> None:
    found = problems(plan(["github.*"], KB))
    assert any("'github.*' names no MCP server of the plan (servers: kb)" in p for p in found)


def test_tools_on_a_kind_that_calls_none() -> None:
    found = problems(plan(["kb.*"], KB, kind="llm"))
    assert any("only agent and orchestrator tasks call tools" in p for p in found)


def test_values_instead_of_names_and_bad_server_names() -> None:
    servers = {"9kb": {"command": "x", "env": ["sk-live value"]}}
    found = problems(plan([], servers))
    assert any("a server name is a letter" in p for p in found)
    assert any("not an environment variable name" in p for p in found)


def test_a_server_is_stdio_or_http() -> None:
    found = problems(plan([], {"kb": {"url": "ftp://x"}}))
    assert found and all("mcp_servers.kb" in p for p in found)

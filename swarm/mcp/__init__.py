"""MCP tools for agents: the plan's servers reached through one pooled session each per run.

The SDK is imported only when a plan declares servers (``pip install swarm-harness[mcp]``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from swarm.errors import ConfigError, ToolCallError
from swarm.mcp.names import ToolDef, glob_server
from swarm.plan import FetchSettings, Plan

if TYPE_CHECKING:
    from swarm.mcp.pool import ToolHub, ToolOutcome


class ToolJournal(Protocol):
    """Where agents record each tool call's outcome before their next model call, so that a
    resumed run does not make the calls that already returned again."""

    async def returned(self, task_id: str, attempt: int, call: dict[str, Any]) -> None:
        """Durably record one returned call (tool, args, capped observation, ok)."""
        ...

    def previous(self, task_id: str) -> list[dict[str, Any]]:
        """The calls an interrupted attempt of the task saw return (given out once)."""
        ...


@dataclass(frozen=True, slots=True)
class RunTools:
    """The tools a run offers its agents beyond their own: the plan's ``fetch`` settings, its
    MCP servers (``hub`` is None when it declares none), and the tool-call journal."""

    fetch: FetchSettings
    hub: ToolHub | None = None
    journal: ToolJournal | None = None

    async def mcp_tools(self, globs: Iterable[str]) -> list[ToolDef]:
        globs = [g for g in globs if "." in g]
        if not globs:
            return []
        if self.hub is None:
            servers = ", ".join(sorted({glob_server(g) for g in globs}))
            raise ToolCallError(
                f"the task's tools name MCP servers ({servers}) the plan does not declare",
                retryable=False,
                hint="add them to the plan's mcp_servers (swarm validate checks this)",
            )
        return await self.hub.tools(globs)

    async def call(self, tool: ToolDef, args: dict[str, Any]) -> ToolOutcome:
        assert self.hub is not None, "an MCP tool is only offered when the hub exists"
        return await self.hub.call(tool, args)


@asynccontextmanager
async def run_tools(plan: Plan) -> AsyncIterator[RunTools]:
    """The run's tools for as long as the block lasts: MCP server sessions are opened (on first
    use) and closed within it."""
    if not plan.mcp_servers:
        yield RunTools(plan.fetch)
        return
    try:
        from swarm.mcp.pool import open_hub
    except ImportError as exc:
        raise ConfigError(
            f"the plan declares MCP servers but the MCP SDK is not installed ({exc})",
            hint="pip install 'swarm-harness[mcp]'",
        ) from None
    async with open_hub(plan) as hub:
        yield RunTools(plan.fetch, hub)

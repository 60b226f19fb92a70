"""The run's MCP servers: one pooled session per server shared by every agent, with a limiter
of calls in flight per server, the tool list cached for its TTL, a timeout per call, and the
sessions owned by one task group whose ``async with`` spans the run.

300 agents calling one server share one process (stdio) or one session (HTTP); the server's
``max_concurrency`` bounds how many of their calls are in flight at once and the rest queue in
the limiter. A server is started on its first use, so a plan that declares servers its tasks
never call starts none.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types
from anyio.abc import TaskGroup

from swarm.errors import ToolCallError
from swarm.mcp.config import Redactor, http_target, secret_values, stdio_launch
from swarm.mcp.names import ToolDef, glob_server, matches
from swarm.mcp.render import render_result, tool_def
from swarm.mcp.session import Connect, ServerSession, http_connect, is_broken, stdio_connect
from swarm.plan import HttpServer, Plan, StdioServer

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What one call returned: text for the model (secrets scrubbed, uncapped) and success."""

    text: str
    ok: bool


class ServerPool:
    """Calls to one server: its session, its limiter, its cached tool list."""

    def __init__(
        self,
        name: str,
        settings: StdioServer | HttpServer,
        connect: Connect,
        redact: Redactor,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings
        self.session = ServerSession(name, connect, max_restarts=settings.max_restarts)
        self.limiter = anyio.CapacityLimiter(settings.max_concurrency)
        self.redact = redact
        self.clock = clock
        self._tools: list[ToolDef] | None = None
        self._listed_at = -float("inf")
        self._listing = anyio.Lock()
        self.calls = 0
        self.listings = 0

    async def tools(self) -> list[ToolDef]:
        """The server's tools, fetched once per TTL however many agents ask at once."""
        async with self._listing:
            if self._tools is None or self.clock() - self._listed_at > self.settings.tools_ttl_s:
                listed = await self._request("tools/list", self._list)
                self.listings += 1
                self._tools = [tool_def(self.name, t) for t in listed]
                self._listed_at = self.clock()
            return self._tools

    async def _list(self, client: Any) -> list[mcp_types.Tool]:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(100):  # a paginator that never ends cannot hang the run
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def call(self, tool: str, args: dict[str, Any]) -> ToolOutcome:
        async def send(client: Any) -> ToolOutcome:
            result = await client.call_tool(tool, args)
            text, ok = render_result(result, self.redact)
            return ToolOutcome(text, ok)

        self.calls += 1
        outcome: ToolOutcome = await self._request(f"tool {tool!r}", send)
        return outcome

    async def _request(self, what: str, send: Callable[[Any], Any]) -> Any:
        timeout = self.settings.call_timeout_s
        async with self.limiter:
            client, generation = await self.session.acquire()
            try:
                with anyio.fail_after(timeout):
                    return await send(client)
            except TimeoutError:
                raise ToolCallError(
                    f"{what} of MCP server {self.name!r} timed out after {timeout:g}s",
                    retryable=True,
                    hint=f"raise mcp_servers.{self.name}.call_timeout_s if it is slow on purpose",
                ) from None
            except ToolCallError:
                raise
            except Exception as exc:
                if not is_broken(exc):
                    message = self.redact(str(exc) or type(exc).__name__)
                    raise ToolCallError(
                        f"{what} of MCP server {self.name!r} failed: {message[:500]}",
                        retryable=False,
                    ) from None
                self.session.broken(generation)
                raise ToolCallError(
                    f"MCP server {self.name!r} stopped during {what}; it is being restarted",
                    retryable=True,
                    hint="the call may be made again once the server is back",
                ) from None


class ToolHub:
    """Every MCP server of a run, by name; what the agents' tool calls go through."""

    def __init__(self, pools: dict[str, ServerPool], tg: TaskGroup | None) -> None:
        self.pools = pools
        self._tg = tg
        self._started: set[str] = set()

    def _pool(self, server: str) -> ServerPool:
        pool = self.pools.get(server)
        if pool is None:
            raise ToolCallError(f"no MCP server {server!r} in the plan", retryable=False)
        if server not in self._started and self._tg is not None:
            self._started.add(server)
            self._tg.start_soon(pool.session.supervise, name=f"mcp server {server}")
        return pool

    async def tools(self, globs: Iterable[str]) -> list[ToolDef]:
        """The MCP tools a task's ``tools`` globs allow, in the plan's server order."""
        globs = list(globs)
        found: list[ToolDef] = []
        for server in self.pools:
            if matches(server, [glob_server(g) for g in globs if "." in g]):
                found.extend(t for t in await self._pool(server).tools() if matches(t.name, globs))
        return found

    async def call(self, tool: ToolDef, args: dict[str, Any]) -> ToolOutcome:
        assert tool.server is not None
        return await self._pool(tool.server).call(tool.tool, args)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.session.close()


def pools_for(
    plan: Plan, environ: Mapping[str, str], clock: Clock = time.monotonic
) -> dict[str, ServerPool]:
    """A pool per server of the plan; a missing environment variable is a ConfigError."""
    pools = {}
    for name, server in plan.mcp_servers.items():
        redact = Redactor(secret_values(server, environ))
        connect = (
            stdio_connect(stdio_launch(name, server, environ))
            if isinstance(server, StdioServer)
            else http_connect(http_target(name, server, environ))
        )
        pools[name] = ServerPool(name, server, connect, redact, clock=clock)
    return pools


@asynccontextmanager
async def open_hub(
    plan: Plan, *, environ: Mapping[str, str] | None = None, clock: Clock = time.monotonic
) -> AsyncIterator[ToolHub]:
    """The run's tool hub, its server sessions owned by this block: on leaving it every
    session is closed and every stdio server stopped."""
    pools = pools_for(plan, os.environ if environ is None else environ, clock)
    if not pools:
        yield ToolHub({}, None)
        return
    async with anyio.create_task_group() as tg:
        hub = ToolHub(pools, tg)
        try:
            yield hub
        finally:
            hub.close()

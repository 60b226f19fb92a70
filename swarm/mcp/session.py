"""One live MCP session per server, kept by a supervisor task: it connects (starting a stdio
server's process), lets any number of calls share the session, and when a call finds the
connection broken it closes it and connects again after a backoff, up to ``max_restarts``.

The session's context managers are entered and exited by the supervisor alone (anyio needs
that); callers only borrow :attr:`ServerSession.client` between :meth:`acquire` and the end of
their call. A call in flight when the connection breaks fails (retryably); the next one waits for
the restarted session.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import mcp_types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from swarm.errors import ToolCallError
from swarm.mcp.config import HttpTarget, StdioLaunch

Connect = Callable[[], AbstractAsyncContextManager[Client]]
BROKEN: tuple[type[BaseException], ...] = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    OSError,
)
"""Exceptions that mean the connection, not the call, failed."""


def is_broken(exc: BaseException) -> bool:
    if isinstance(exc, MCPError):
        return exc.code == mcp_types.CONNECTION_CLOSED
    if isinstance(exc, BaseExceptionGroup):
        return any(is_broken(e) for e in exc.exceptions)
    return isinstance(exc, BROKEN) or type(exc).__module__.startswith(("httpx", "httpcore"))


def stdio_connect(launch: StdioLaunch) -> Connect:
    """Start the server as a child process with exactly ``launch.env`` (the SDK adds the names
    it always passes: HOME, LOGNAME, PATH, SHELL, TERM, USER; ours win where they overlap)."""

    @asynccontextmanager
    async def connect() -> Any:
        params = StdioServerParameters(
            command=launch.command, args=list(launch.args), env=launch.env, cwd=launch.cwd
        )
        # A server's stderr may quote its secrets: it goes nowhere (opening devnull never blocks).
        with open(os.devnull, "w") as errlog:  # noqa: ASYNC230
            async with Client(stdio_client(params, errlog=errlog), cache=None) as client:
                yield client

    return connect


def http_connect(target: HttpTarget) -> Connect:
    """Reach the server at the plan's URL only: the SDK follows a redirect only on the same
    origin, and the headers (secrets) go to that URL alone."""

    @asynccontextmanager
    async def connect() -> Any:
        import httpx2  # the SDK's own HTTP client

        timeout = httpx2.Timeout(30.0, read=300.0)
        async with httpx2.AsyncClient(headers=target.headers, timeout=timeout) as http:
            transport = streamable_http_client(target.url, http_client=http)
            async with Client(transport, cache=None) as client:
                yield client

    return connect


class ServerSession:
    """The one session of one server for a run, restarted when it breaks."""

    def __init__(
        self,
        name: str,
        connect: Connect,
        *,
        max_restarts: int,
        backoff_s: float = 0.2,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.name = name
        self._connect = connect
        self.max_restarts = max_restarts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.client: Client | None = None
        self.generation = 0
        """Sessions opened so far; a call knows which session it broke."""
        self.restarts = 0
        self.failure: str | None = None
        """Why the server is given up on for the run (too many restarts)."""
        self._ready = anyio.Event()
        self._broken = anyio.Event()
        self._closing = False

    async def supervise(self) -> None:
        """Keep the session open until :meth:`close`; run in the run's tool task group."""
        while not self._closing:
            error = await self._serve_once()
            self.client = None
            if self._closing:
                break
            if self.restarts >= self.max_restarts:
                self.failure = f"it stopped {self.restarts + 1} times ({error})"
                self._ready.set()
                return
            delay = min(self.max_backoff_s, self.backoff_s * 2**self.restarts)
            self.restarts += 1
            await anyio.sleep(delay)

    async def _serve_once(self) -> str:
        try:
            async with self._connect() as client:
                self.client = client
                self.generation += 1
                self._broken = anyio.Event()
                self._ready.set()
                await self._broken.wait()
        except Exception as exc:  # the transport's own failure: counts as a stop
            self._not_ready()
            return f"{type(exc).__name__}: {_first_line(exc)}"
        self._not_ready()
        return "the connection broke"

    def _not_ready(self) -> None:
        """Make callers wait for the next session (an event is replaced only once it is set, so
        no caller is left waiting on one that is never set)."""
        if self._ready.is_set():
            self._ready = anyio.Event()

    async def acquire(self) -> tuple[Client, int]:
        """The live session (waiting while it starts or restarts) and its generation."""
        while True:
            if self.failure is not None:
                raise ToolCallError(
                    f"MCP server {self.name!r} is not available: {self.failure}",
                    retryable=False,
                    hint=f"check that mcp_servers.{self.name} starts and stays up on its own",
                )
            if self.client is not None and not self._broken.is_set():
                return self.client, self.generation
            await self._ready.wait()
            await anyio.lowlevel.checkpoint()

    def broken(self, generation: int) -> None:
        """A call found session ``generation`` broken: close it so the supervisor restarts."""
        if generation == self.generation:
            self._broken.set()
            self._not_ready()

    def close(self) -> None:
        self._closing = True
        self._broken.set()


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _first_line(exc.exceptions[0])
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]

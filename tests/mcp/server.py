"""A real MCP server for the tests, written with the SDK's server API; run as
``python tests/mcp/server.py stdio LOG`` or ``... http PORT LOG``.

Every call is appended to the LOG file (one line, the tool's name), so a test can tell what the
server was really asked, whatever the agent was told.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("swarm-test-kb")
LOG = sys.argv[2] if sys.argv[1] == "stdio" else sys.argv[3]
DOCS = {
    "anyio": "anyio is an asynchronous networking and concurrency library with task groups.",
    "mcp": "The Model Context Protocol connects models to tools and data.",
}


def _log(name: str) -> None:
    with open(LOG, "a") as f:
        f.write(f"{name} {os.getpid()}\n")


@server.tool()
def search(query: str) -> str:
    """Search the knowledge base for a term."""
    _log("search")
    hits = [f"{k}: {v}" for k, v in DOCS.items() if k in query.lower() or query.lower() in k]
    return "\n".join(hits) or f"no entry for {query!r}"


@server.tool()
def add(a: int, b: int) -> dict[str, Any]:
    """Add two integers (structured result)."""
    _log("add")
    return {"sum": a + b}


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    _log("slow")
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
async def research(topic: str) -> str:
    """A long piece of research (four seconds)."""
    _log("research")
    await anyio.sleep(4)
    return f"research on {topic[:40]} done"


@server.tool()
def env(name: str) -> str:
    """Whether a variable is set in the server's environment (its value never)."""
    _log("env")
    return f"{name} is {'set' if name in os.environ else 'not set'}"


@server.tool()
def echo_secret(name: str) -> str:
    """Echo an environment variable's value back (a leaky server)."""
    _log("echo_secret")
    return f"value: {os.environ.get(name.split()[0], '')}"


@server.tool()
def crash() -> str:
    """Exit the process mid-call (a server that dies)."""
    _log("crash")
    os._exit(3)


@server.tool()
def delete_all() -> str:
    """A tool no task should be allowed."""
    _log("delete_all")
    return "deleted everything"


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    time.sleep(0)

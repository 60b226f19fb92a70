"""MCP pool benchmark: calls per second through one pooled server session, and the latency the
pool adds per call against a direct session of the SDK, at 1, 50 and 300 concurrent agents.

    python benchmarks/bench_mcp.py                  # 1, 50, 300 agents, 600 calls a level
    python benchmarks/bench_mcp.py --agents 1 50 --calls 300

The server is the example's knowledge base (``examples/kb_server.py``, stdio, one process).
Each level starts N agents at once; each makes ``calls / N`` (at least 2) ``search`` calls one
after another. **direct**: the agents share one ``mcp.Client`` session and call it themselves
(what the pool costs against no pool at all). **pooled**: the same calls through the run's
:class:`~swarm.mcp.pool.ToolHub` (its limiter with ``max_concurrency`` = 16, the plan default,
and = N; its timeout scope; secret scrubbing; result rendering). Latency is the mean wall time of
one call as its agent saw it (queueing in the limiter included). Each figure is one run on the
machine the docs name; the first call of each level (the session's start) is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from swarm.mcp.pool import open_hub
from swarm.plan import Plan

SERVER = str(Path(__file__).resolve().parents[1] / "examples" / "kb_server.py")
Call = Callable[[], Awaitable[object]]


async def agents(n: int, per_agent: int, call: Call) -> tuple[float, list[float]]:
    """Wall seconds for n agents making per_agent calls each, and every call's latency."""
    latencies: list[float] = []

    async def agent() -> None:
        for _ in range(per_agent):
            t = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(agent)
    return time.perf_counter() - started, latencies


async def direct(n: int, per_agent: int) -> tuple[float, list[float]]:
    params = StdioServerParameters(command=sys.executable, args=[SERVER])
    with open("/dev/null", "w") as errlog:  # noqa: ASYNC230
        async with Client(stdio_client(params, errlog=errlog), cache=None) as client:
            await client.call_tool("search", {"query": "cop"})

            async def call() -> object:
                return await client.call_tool("search", {"query": "cop"})

            return await agents(n, per_agent, call)


async def pooled(n: int, per_agent: int, limit: int) -> tuple[float, list[float]]:
    server = {"command": sys.executable, "args": [SERVER], "max_concurrency": limit}
    task = {"id": "a", "kind": "agent", "prompt": "p", "tools": ["kb.search"]}
    plan = Plan.model_validate({"goal": "g", "tasks": [task], "mcp_servers": {"kb": server}})
    async with open_hub(plan, environ={}) as hub:
        (search,) = await hub.tools(["kb.search"])
        await hub.call(search, {"query": "cop"})

        async def call() -> object:
            return await hub.call(search, {"query": "cop"})

        return await agents(n, per_agent, call)


def line(name: str, n: int, wall: float, lat: list[float]) -> str:
    rate = len(lat) / wall
    mean = statistics.fmean(lat) * 1000
    p95 = statistics.quantiles(lat, n=20)[-1] * 1000 if len(lat) >= 20 else max(lat) * 1000
    return f"| {n} | {name} | {len(lat)} | {rate:,.0f} | {mean:.2f} | {p95:.2f} |"


async def main(levels: list[int], calls: int) -> None:
    print("| agents | session | calls | calls/s | mean latency ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for n in levels:
        per = max(2, calls // n)
        rows = [("direct (one SDK session)", await direct(n, per))]
        rows.append(("pooled, max_concurrency 16", await pooled(n, per, 16)))
        if n > 16:
            rows.append((f"pooled, max_concurrency {n}", await pooled(n, per, n)))
        for name, (wall, lat) in rows:
            print(line(name, n, wall, lat), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 50, 300])
    parser.add_argument("--calls", type=int, default=600)
    args = parser.parse_args()
    anyio.run(main, args.agents, args.calls)

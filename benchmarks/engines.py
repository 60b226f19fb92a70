"""One measurement of one engine, run as a child process so its peak memory is its own.

    python benchmarks/engines.py ENGINE SPEC.json    # prints one JSON line

SPEC: ``{"shape": PATH, "concurrency": N, "workdir": DIR}``; the shape file comes from
``shapes.py``, and every engine sleeps each task's ``dur`` (no-op when it is 0). The wall time
covers building the engine's graph from the task list and running it to the end; swarm's
includes writing the run and its tasks to the database, LangGraph's includes ``compile()``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_swarm(
    shape: dict[str, Any], concurrency: int, workdir: Path, *, estimates: bool = False
) -> dict[str, Any]:
    """swarm with the sim provider and a file database; a task sleeps its ``dur`` first.

    ``estimates``: the plan's tasks carry rough duration estimates (``shapes.plan_of``)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import anyio
    from shapes import plan_of

    from swarm.providers.base import ModelRequest, ModelResponse
    from swarm.providers.sim import SimProvider
    from swarm.runtime import run as runs
    from swarm.store.store import Store

    durations = {t["id"]: t["dur"] for t in shape["tasks"]}

    class TimedSim:
        """The sim provider, after sleeping the duration precomputed for the call's task."""

        name = "sim"
        simulated = True

        def __init__(self) -> None:
            self.inner = SimProvider()

        async def complete(self, request: ModelRequest) -> ModelResponse:
            task_id = request.call_key.rsplit("/", 3)[1]
            started = time.perf_counter()
            if durations[task_id] > 0:
                await anyio.sleep(durations[task_id])
            response = await self.inner.complete(request)
            latency = time.perf_counter() - started
            return ModelResponse(
                response.text,
                response.tokens_in,
                response.tokens_out,
                latency,
                response.ref,
                response.meta,
            )

        async def aclose(self) -> None:
            return None

    from workers.registry import registry

    plan = plan_of(shape, concurrency, estimates=estimates)
    for kind in {spec.kind for spec in plan.tasks}:
        registry()[kind]  # imports are outside the timing, for every engine
    db = workdir / "swarm.db"
    options = runs.RunOptions(artifacts_dir=str(workdir / "runs"))

    async def go() -> tuple[dict[str, Any], float]:
        store = await Store.open(db)
        try:
            started = time.perf_counter()
            summary = await runs.execute(store, plan, TimedSim(), options, run_id="bench")
            return summary, time.perf_counter() - started
        finally:
            await store.close()

    summary, wall = anyio.run(go)
    if summary["status"] != "succeeded":
        raise RuntimeError(f"swarm run ended {summary['status']}: {summary['counts']}")
    return {"wall_s": wall, "db_mb": _size_mb(db)}


def run_dask(shape: dict[str, Any], concurrency: int, workdir: Path) -> dict[str, Any]:
    """Dask's local threaded scheduler: in memory, no persistence; a task ``time.sleep``s."""
    import dask.threaded

    def work(dur: float, *inputs: object) -> None:
        if dur > 0:
            time.sleep(dur)

    started = time.perf_counter()
    graph = {t["id"]: (work, t["dur"], *t["deps"]) for t in shape["tasks"]}
    results = dask.threaded.get(graph, list(graph), num_workers=concurrency)
    if len(results) != len(graph):
        raise RuntimeError(f"Dask returned {len(results)} of {len(graph)} results")
    return {"wall_s": time.perf_counter() - started}


def run_langgraph(shape: dict[str, Any], concurrency: int, workdir: Path) -> dict[str, Any]:
    """LangGraph compiled with its SQLite checkpointer: one node per task, a join edge for a
    task with several dependencies, ``max_concurrency`` as the cap; a node ``asyncio.sleep``s."""
    from typing import TypedDict

    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.graph import START, StateGraph

    class State(TypedDict, total=False):
        seen: int

    ran = [0]

    def node(dur: float) -> Callable[[State], Any]:
        async def work(state: State) -> None:
            ran[0] += 1
            if dur > 0:
                await asyncio.sleep(dur)

        return work

    db = workdir / "langgraph.db"

    async def go() -> tuple[float, float]:
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            started = time.perf_counter()
            builder = StateGraph(State)
            for t in shape["tasks"]:
                builder.add_node(t["id"], node(t["dur"]))
            for t in shape["tasks"]:
                deps = t["deps"]
                builder.add_edge(deps if len(deps) > 1 else (deps[0] if deps else START), t["id"])
            graph = builder.compile(checkpointer=saver)
            compiled = time.perf_counter() - started
            config = {
                "configurable": {"thread_id": "bench"},
                "recursion_limit": len(shape["tasks"]) + 10,
                "max_concurrency": concurrency,
            }
            await graph.ainvoke({}, config)
            return time.perf_counter() - started, compiled

    wall, compiled = asyncio.run(go())
    if ran[0] != len(shape["tasks"]):
        raise RuntimeError(f"LangGraph ran {ran[0]} of {len(shape['tasks'])} nodes")
    return {"wall_s": wall, "compile_s": compiled, "db_mb": _size_mb(db)}


def _size_mb(db: Path) -> float:
    files = [db, db.with_name(db.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def run_swarm_estimates(shape: dict[str, Any], concurrency: int, workdir: Path) -> dict[str, Any]:
    return run_swarm(shape, concurrency, workdir, estimates=True)


ENGINES = {
    "swarm": run_swarm,
    "swarm-est": run_swarm_estimates,
    "dask": run_dask,
    "langgraph": run_langgraph,
}


def main() -> None:
    engine, spec_path = sys.argv[1], Path(sys.argv[2])
    spec = json.loads(spec_path.read_text())
    shape = json.loads(Path(spec["shape"]).read_text())
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    result = ENGINES[engine](shape, spec["concurrency"], workdir)
    result["peak_rss_mb"] = peak_rss_mb()
    result["pid"] = os.getpid()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

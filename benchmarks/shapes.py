"""DAG shapes shared by every engine in the peer benchmark, as plain JSON-able task lists.

A shape is ``{"name", "source", "tasks": [{"id", "deps", "dur"}]}`` with tasks in topological
order and ids ``t0..tN``, so each engine builds its own graph from the same data and no engine's
import cost leaks into another's process. ``dur`` is the simulated work in seconds, drawn once
per task with a fixed seed, so every engine sleeps exactly the same durations.
"""

from __future__ import annotations

import math
import random
from typing import Any

import networkx as nx

Shape = dict[str, Any]


def random_shape(n: int, seed: int) -> Shape:
    """Each task depends on 0-3 random tasks among the previous 50 (as ``bench_scheduler``)."""
    rng = random.Random(seed)
    deps = []
    for i in range(n):
        window = range(max(0, i - 50), i)
        deps.append(rng.sample(window, k=min(len(window), rng.randint(0, 3))))
    return _shape("random", f"{n} tasks, 0-3 deps among the previous 50 (seed {seed})", deps)


def fan_shape(n: int) -> Shape:
    """One root, ``n - 2`` independent middle tasks, one sink that joins them all."""
    deps: list[list[int]] = [[]] + [[0]] * (n - 2) + [list(range(1, n - 1))]
    return _shape("fan-out/fan-in", f"1 → {n - 2} → 1", deps)


def independent_shape(n: int) -> Shape:
    """``n`` tasks without dependencies: with concurrency ``n`` all are in flight at once."""
    return _shape("independent", f"{n} independent tasks", [[] for _ in range(n)])


def wfcommons_shape(recipe: str, n: int, seed: int) -> Shape:
    """A Montage-, Epigenomics- or Blast-like DAG from WfCommons' recipe-based generator."""
    import numpy as np
    from wfcommons import WorkflowGenerator
    from wfcommons.wfchef import recipes

    random.seed(seed)
    np.random.seed(seed)
    cls = getattr(recipes, f"{recipe}Recipe")
    workflow = WorkflowGenerator(cls.from_num_tasks(n)).build_workflow()
    graph = nx.DiGraph(workflow.edges)
    graph.add_nodes_from(workflow.nodes)
    order = list(nx.lexicographical_topological_sort(graph))
    index = {node: i for i, node in enumerate(order)}
    deps = [sorted(index[p] for p in graph.predecessors(node)) for node in order]
    return _shape(recipe, f"WfCommons {recipe}Recipe, {len(order)} tasks (seed {seed})", deps)


def _shape(name: str, source: str, deps: list[list[int]]) -> Shape:
    tasks = [
        {"id": f"t{i}", "deps": [f"t{d}" for d in ds], "dur": 0.0} for i, ds in enumerate(deps)
    ]
    return {"name": name, "source": source, "tasks": tasks}


def with_durations(shape: Shape, mode: str, seed: int) -> Shape:
    """A copy whose tasks sleep ``fixed:S`` or ``lognormal:MEDIAN,SIGMA`` seconds (or 0)."""
    rng = random.Random(seed)
    kind, _, rest = mode.partition(":")
    tasks = []
    for task in shape["tasks"]:
        if kind == "fixed":
            dur = float(rest)
        elif kind == "lognormal":
            median, sigma = (float(x) for x in rest.split(","))
            dur = median * math.exp(rng.gauss(0.0, sigma))
        else:
            dur = 0.0
        tasks.append({**task, "dur": dur})
    return {**shape, "tasks": tasks}


def graph_of(shape: Shape) -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    for task in shape["tasks"]:
        graph.add_node(task["id"])
        graph.add_edges_from((d, task["id"]) for d in task["deps"])
    return graph


def depth(shape: Shape) -> int:
    """Tasks on the longest path (the number of LangGraph supersteps the shape needs)."""
    return int(nx.dag_longest_path_length(graph_of(shape))) + 1


ESTIMATE_SIGMA = 0.5
"""How far off the estimates given to swarm are: each is the true duration times a lognormal
error of this sigma (drawn with a fixed seed), so half of them are off by more than 40%."""


def plan_of(shape: Shape, concurrency: int, *, estimates: bool = False) -> Any:
    """The shape as a swarm Plan of ``llm`` tasks (imports swarm; only the swarm child calls it).

    ``estimates``: give each task an ``estimate_s``, its duration with a lognormal error of
    ``ESTIMATE_SIGMA``, as a planner's rough guesses would be."""
    from swarm.plan import Plan

    rng = random.Random(23)
    tasks = []
    for t in shape["tasks"]:
        task = {"id": t["id"], "kind": "llm", "prompt": f"task {t['id']}", "deps": t["deps"]}
        if estimates and t["dur"] > 0:
            task["estimate_s"] = t["dur"] * math.exp(rng.gauss(0.0, ESTIMATE_SIGMA))
        tasks.append(task)
    n = len(tasks)
    return Plan.model_validate(
        {
            "goal": f"{shape['name']} DAG of {n} tasks",
            "budget": {"max_concurrency": concurrency, "max_steps": n * 3},
            "tasks": tasks,
        }
    )

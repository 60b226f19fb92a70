"""Run metrics that tell whether a swarm is really parallel: critical steps and the like.

Everything here is a pure function of the DAG and per-task numbers, so the same code serves the
run's end (metrics stored in ``runs.summary_json``) and the CLI, report and views reading a run
back from the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx

from swarm.dag import Graph, critical_path, longest_remaining
from swarm.plan import RunBudget
from swarm.store.queries import Queries, RunDetail, TaskDetail
from swarm.store.store import Store
from workers.orchestrator_turns import stage_of


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of an orchestrator: the sub-agents one of its turns started, and the slowest
    of them in (critical) steps."""

    orchestrator: str
    stage: int
    subagents: int
    slowest: str
    slowest_steps: int


def orchestrator_stages(
    graph: Graph, steps_used: Mapping[str, int]
) -> tuple[dict[str, int], list[Stage]]:
    """Critical steps as the Kimi K2.5 report defines them, for every orchestrator of the run.

    An orchestrator's critical steps are, summed over its stages, its own steps in the stage
    plus the critical steps of that stage's slowest sub-agent (recursively, for a nested
    orchestrator); its own steps over all stages add up to its step count, so this is its
    steps plus each stage's slowest sub-agent. Returns those per orchestrator, and the stages.
    """
    groups: dict[str, dict[int, list[str]]] = {}
    for task in graph:
        found = stage_of(task)
        if found is not None and found[0] in graph:
            groups.setdefault(found[0], {}).setdefault(found[1], []).append(task)
    critical: dict[str, int] = {}
    stages: list[Stage] = []

    def of(task: str) -> int:
        if task not in groups:
            return int(steps_used.get(task, 0))
        if task not in critical:
            total = int(steps_used.get(task, 0))
            for stage, children in sorted(groups[task].items()):
                slowest = max(sorted(children), key=of)
                total += of(slowest)
                stages.append(Stage(task, stage, len(children), slowest, of(slowest)))
            critical[task] = total
        return critical[task]

    for task in sorted(groups):
        of(task)
    stages.sort(key=lambda s: (s.orchestrator, s.stage))
    return critical, stages


def steps_critical(graph: Graph, steps_used: Mapping[str, int]) -> int:
    """Steps along the heaviest dependency chain: the steps no amount of parallelism hides.

    An orchestrator weighs its critical steps (see :func:`orchestrator_stages`) and its
    sub-agents nothing of their own, since they are counted in their orchestrator's stages."""
    critical, _ = orchestrator_stages(graph, steps_used)
    weights = {task: float(critical.get(task, steps_used.get(task, 0))) for task in graph}
    for task in graph:
        found = stage_of(task)
        if found is not None and found[0] in critical:
            weights[task] = 0.0
    remaining = longest_remaining(graph, weights)
    return int(max(remaining.values(), default=0.0))


@dataclass(frozen=True, slots=True)
class RunMetrics:
    """How parallel a run was, and how close to the best any schedule could have done."""

    makespan_s: float
    """Wall-clock time the run was being driven (summed over its sessions when resumed)."""
    serial_s: float
    """The sum of every task's attempt durations: the time one worker would have needed."""
    speedup: float | None
    """``serial_s / makespan_s``: how many tasks ran at once, on average."""
    steps_total: int
    steps_critical: int
    """Steps along the heaviest chain of dependencies (by steps)."""
    steps_ratio: float | None
    """``steps_total / steps_critical``: the parallelism in steps."""
    critical_path_s: float
    """Duration of the longest chain of dependencies (by task durations)."""
    critical_path: tuple[str, ...]
    """The tasks on that chain, from a source to a sink."""
    concurrency: int
    """The run's concurrency limit."""
    lower_bound_s: float
    """``max(critical_path_s, serial_s / concurrency)``: no schedule can finish sooner."""
    efficiency: float | None
    """``lower_bound_s / makespan_s``: 1.0 is a perfect schedule with no overhead."""
    stages: tuple[Stage, ...] = ()
    """Each orchestrator's stages, with the slowest sub-agent of each (the critical steps of
    an orchestrator-mode run are summed over them)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, floats rounded for storage and display."""
        out = asdict(self)
        out["critical_path"] = list(self.critical_path)
        out["stages"] = list(out["stages"])
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 6)
        return out


def compute_metrics(
    graph: Graph,
    durations: Mapping[str, float],
    steps: Mapping[str, int],
    concurrency: int,
    makespan_s: float,
) -> RunMetrics:
    """The metrics of a run whose tasks took ``durations`` seconds and ``steps`` steps.

    Tasks missing from a mapping count as zero (never ran). ``concurrency`` is the run's limit
    on tasks at once; ratios whose denominator is zero are ``None``.
    """
    serial = float(sum(durations.get(task, 0.0) for task in graph))
    steps_total = int(sum(steps.get(task, 0) for task in graph))
    seconds = {task: max(0.0, float(durations.get(task, 0.0))) for task in graph}
    critical = steps_critical(graph, steps)
    _, stages = orchestrator_stages(graph, steps)
    path = critical_path(graph, seconds)
    path_s = float(sum(seconds[task] for task in path))
    bound = max(path_s, serial / max(concurrency, 1))
    return RunMetrics(
        makespan_s=makespan_s,
        serial_s=serial,
        speedup=_ratio(serial, makespan_s),
        steps_total=steps_total,
        steps_critical=critical,
        steps_ratio=_ratio(steps_total, critical),
        critical_path_s=path_s,
        critical_path=tuple(path),
        concurrency=concurrency,
        lower_bound_s=bound,
        efficiency=_ratio(bound, makespan_s),
        stages=tuple(stages),
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def task_graph(tasks: Sequence[TaskDetail]) -> nx.DiGraph[str]:
    """The DAG of a run's stored tasks (edges from a dependency to its dependent)."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from((task.task_id, {"kind": task.kind}) for task in tasks)
    graph.add_edges_from((dep, task.task_id) for task in tasks for dep in task.deps if dep in graph)
    return graph


def metrics_of(detail: RunDetail) -> RunMetrics:
    """The metrics of a run read back from the database (every attempt of every session)."""
    graph = task_graph(detail.tasks)
    concurrency = detail.run.concurrency or int(RunBudget.model_fields["max_concurrency"].default)
    return compute_metrics(
        graph,
        {task.task_id: task.work_s for task in detail.tasks},
        {task.task_id: task.steps for task in detail.tasks},
        concurrency,
        detail.active_s,
    )


async def record_run_metrics(store: Store, run_id: str, *, epoch: int | None = None) -> RunMetrics:
    """Compute a finished run's metrics from the database and store them in ``summary_json``
    (with ``epoch``: only while the run is still owned at that epoch)."""
    metrics = metrics_of(await Queries(store).detail(run_id))
    await store.record_metrics(run_id, metrics.as_dict(), epoch=epoch)
    return metrics

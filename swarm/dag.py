"""The plan's DAG: structural checks, critical-path priorities, rendering.

Edges point from a dependency to its dependent (``a -> b`` means b needs a), so a topological
order is an order in which tasks can run. The checks and the run's :class:`Dag` are plain
successor lists (Kahn's algorithm, and strongly connected components only when there is a
cycle to report), so ``swarm validate`` and a run never import networkx; a networkx DiGraph
(:func:`build_graph`) serves ``swarm graph``, the planner and the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from swarm.errors import Problem

if TYPE_CHECKING:  # `swarm validate` checks a plan's DAG without the plan models
    import networkx as nx

    from swarm.plan import Plan


def graph_problems(raw: Any, *, known_kinds: set[str] | None = None) -> list[Problem]:
    """Duplicate ids, unknown dependencies, cycles and unknown kinds, read from raw plan data.

    Works on the decoded JSON rather than on a validated :class:`Plan` so that structural
    problems are reported together with type errors elsewhere in the same file.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list):
        return []
    problems: list[Problem] = []
    ids: dict[str, int] = {}
    edges: list[tuple[str, str]] = []
    for index, task in enumerate(raw["tasks"]):
        if not isinstance(task, dict) or not isinstance(task.get("id"), str):
            continue
        tid = task["id"]
        if tid in ids:
            problems.append(
                Problem(f"task {tid!r}", "id", f"duplicate id (also tasks[{ids[tid]}])")
            )
            continue
        ids[tid] = index
        kind = task.get("kind")
        if known_kinds is not None and isinstance(kind, str) and kind not in known_kinds:
            choices = ", ".join(sorted(known_kinds))
            problems.append(
                Problem(f"task {tid!r}", "kind", f"unknown kind {kind!r} (known: {choices})")
            )
        deps = task.get("deps", [])
        if isinstance(deps, list):
            for dep in deps:
                if isinstance(dep, str):
                    edges.append((dep, tid))
    seen_edges: set[tuple[str, str]] = set()
    succ: dict[str, list[str]] = {tid: [] for tid in ids}
    for dep, tid in edges:
        if dep == tid:
            problems.append(Problem(f"task {tid!r}", "deps", "a task cannot depend on itself"))
        elif dep not in ids:
            problems.append(Problem(f"task {tid!r}", "deps", f"unknown dependency {dep!r}"))
        elif (dep, tid) in seen_edges:
            problems.append(Problem(f"task {tid!r}", "deps", f"dependency {dep!r} listed twice"))
        else:
            seen_edges.add((dep, tid))
            succ[dep].append(tid)
    problems.extend(_cycle_problems(succ))
    return problems


def _cycle_problems(succ: Mapping[str, list[str]]) -> list[Problem]:
    """One problem per cycle (strongly connected component), at its smallest id, with a
    shortest path from that id back to itself."""
    stuck = _unordered(succ)
    if not stuck:
        return []
    problems = []
    for component in sorted(_components(stuck, succ), key=min):
        if len(component) < 2:
            continue
        first = min(component)
        path = _cycle_through(first, component, succ)
        problems.append(Problem(f"task {first!r}", "deps", "cycle: " + " -> ".join(path)))
    return problems


def _unordered(succ: Mapping[str, list[str]]) -> set[str]:
    """The tasks Kahn's algorithm cannot order: those on a cycle or after one."""
    unmet = dict.fromkeys(succ, 0)
    for children in succ.values():
        for child in children:
            unmet[child] += 1
    ready = [task for task, n in unmet.items() if n == 0]
    for task in ready:  # the list grows while it is walked
        for child in succ[task]:
            unmet[child] -= 1
            if unmet[child] == 0:
                ready.append(child)
    return set(succ) - set(ready)


def _components(nodes: set[str], succ: Mapping[str, list[str]]) -> list[set[str]]:
    """The strongly connected components among ``nodes`` (Kosaraju's two passes, iterative)."""
    finished: list[str] = []
    seen: set[str] = set()
    for root in sorted(nodes):
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(succ[root]))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child in nodes and child not in seen:
                    seen.add(child)
                    stack.append((child, iter(succ[child])))
                    break
            else:
                stack.pop()
                finished.append(node)
    pred: dict[str, list[str]] = {node: [] for node in nodes}
    for node in nodes:
        for child in succ[node]:
            if child in nodes:
                pred[child].append(node)
    components: list[set[str]] = []
    placed: set[str] = set()
    for root in reversed(finished):
        if root in placed:
            continue
        component, todo = {root}, [root]
        placed.add(root)
        while todo:
            for parent in pred[todo.pop()]:
                if parent not in placed:
                    placed.add(parent)
                    component.add(parent)
                    todo.append(parent)
        components.append(component)
    return components


def _cycle_through(first: str, component: set[str], succ: Mapping[str, list[str]]) -> list[str]:
    """A shortest path ``first -> … -> first`` inside ``component`` (breadth first, children in
    the plan's order: of two equally short cycles, the one through the earlier task)."""
    came_from: dict[str, str] = {}
    frontier = [first]
    while frontier:
        following = []
        for node in frontier:
            for child in succ[node]:
                if child == first:
                    path = [node]
                    while path[-1] != first:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), first]
                if child in component and child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{first!r} is on no cycle of its component")  # pragma: no cover


def build_graph(plan: Plan) -> nx.DiGraph[str]:
    """The DiGraph of a validated plan; nodes carry ``kind``."""
    import networkx as nx  # only for what needs a graph library: rendering, the planner

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from((spec.id, {"kind": spec.kind}) for spec in plan.tasks)
    graph.add_edges_from((dep, spec.id) for spec in plan.tasks for dep in spec.deps)
    return graph


class Dag:
    """A validated plan's DAG as successor lists and a topological order: all a run needs to
    score its tasks (priorities at the start, critical path at the end), built in a fraction of
    a networkx graph's time. Iterating it yields the task ids in topological order."""

    __slots__ = ("order", "sources", "succ")

    def __init__(self, plan: Plan) -> None:
        self._build((spec.id, spec.deps) for spec in plan.tasks)

    @classmethod
    def of_deps(cls, deps: Iterable[tuple[str, Sequence[str]]]) -> Dag:
        """The DAG of (task id, its deps) pairs in plan order: a checked plan's JSON tasks."""
        dag = cls.__new__(cls)
        dag._build(deps)
        return dag

    def _build(self, deps: Iterable[tuple[str, Sequence[str]]]) -> None:
        pairs = list(deps)
        succ: dict[str, list[str]] = {task: [] for task, _ in pairs}
        unmet: dict[str, int] = {}
        for task, needs in pairs:
            unmet[task] = len(needs)
            for dep in needs:
                succ[dep].append(task)
        self.sources = [task for task, n in unmet.items() if n == 0]
        order = list(self.sources)
        for task in order:  # Kahn's algorithm; the list grows while it is walked
            for child in succ[task]:
                unmet[child] -= 1
                if unmet[child] == 0:
                    order.append(child)
        if len(order) != len(succ):
            raise ValueError("the plan's dependencies contain a cycle (validate it first)")
        self.order = order
        self.succ = succ

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


Graph: TypeAlias = "nx.DiGraph[str] | Dag"
"""What the scoring functions below accept: a networkx graph or a plan's :class:`Dag`."""


def longest_remaining(graph: Graph, weight: Mapping[str, float]) -> dict[str, float]:
    """For each task, the weight of the heaviest path from it to any sink, itself included.

    This is the critical-path priority: the ready task with the most work still behind it goes
    first, the order that list scheduling theory and the measurements in benchmarking.md favour.
    """
    remaining: dict[str, float] = {}
    if isinstance(graph, Dag):
        successors: Mapping[str, Iterable[str]] = graph.succ
        order = graph.order
    else:
        successors, order = graph.succ, topological_order(graph)
    get = weight.get
    for node in reversed(order):
        after = successors[node]
        tail = max([remaining[s] for s in after]) if after else 0.0
        remaining[node] = get(node, 1.0) + tail
    return remaining


def topological_order(graph: nx.DiGraph[str]) -> list[str]:
    """A topological order of ``graph``, computed once and kept with it (a run's DAG is scored
    several times: priorities, then critical steps and the critical path at the end)."""
    import networkx as nx

    order: list[str] | None = graph.graph.get("topological_order")
    if order is None or len(order) != graph.number_of_nodes():
        order = list(nx.topological_sort(graph))
        graph.graph["topological_order"] = order
    return order


def critical_path(graph: Graph, weight: Mapping[str, float]) -> list[str]:
    """The heaviest source-to-sink path by ``weight`` (ties broken by task id)."""
    if len(graph) == 0:
        return []
    remaining = longest_remaining(graph, weight)
    if isinstance(graph, Dag):
        sources = graph.sources
        succ: Mapping[str, Iterable[str]] = graph.succ
    else:
        sources = [n for n in graph if graph.in_degree(n) == 0]
        succ = graph.succ
    node = min(sources, key=lambda n: (-remaining[n], n))
    path = [node]
    while True:
        successors = list(succ[node])
        if not successors:
            return path
        node = min(successors, key=lambda n: (-remaining[n], n))
        path.append(node)


def render_tree(graph: nx.DiGraph[str], labels: Mapping[str, str] | None = None) -> str:
    """A text tree from the sources down; a task with several parents is shown once, then
    referred to as ``(see above)``."""
    labels = labels or {}
    lines: list[str] = []
    shown: set[str] = set()

    def walk(node: str, prefix: str, last: bool, top: bool) -> None:
        connector = "" if top else ("└── " if last else "├── ")
        label = labels.get(node, f"{node} [{graph.nodes[node].get('kind', '?')}]")
        if node in shown:
            lines.append(f"{prefix}{connector}{node} (see above)")
            return
        shown.add(node)
        lines.append(f"{prefix}{connector}{label}")
        children = sorted(graph.successors(node))
        child_prefix = prefix if top else prefix + ("    " if last else "│   ")
        for i, child in enumerate(children):
            walk(child, child_prefix, i == len(children) - 1, False)

    for source in sorted(n for n in graph if graph.in_degree(n) == 0):
        walk(source, "", True, True)
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_mermaid(graph: nx.DiGraph[str]) -> str:
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph))}
    lines = ["flowchart TD"]
    for node in sorted(graph):
        kind = graph.nodes[node].get("kind", "")
        lines.append(f'    {ids[node]}["{_quoted(node)} ({_quoted(kind)})"]'.replace("#", "#35;"))
    for a, b in sorted(graph.edges()):
        lines.append(f"    {ids[a]} --> {ids[b]}")
    return "\n".join(lines)


def render_dot(graph: nx.DiGraph[str]) -> str:
    lines = ["digraph plan {", "    rankdir=TB;", "    node [shape=box];"]
    for node in sorted(graph):
        kind = graph.nodes[node].get("kind", "")
        lines.append(f'    "{_quoted(node)}" [label="{_quoted(node)}\\n{_quoted(kind)}"];')
    for a, b in sorted(graph.edges()):
        lines.append(f'    "{_quoted(a)}" -> "{_quoted(b)}";')
    lines.append("}")
    return "\n".join(lines)

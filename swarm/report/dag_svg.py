"""The run's DAG as an SVG picture: layered by depth, nodes coloured by status, the critical path
highlighted.

Layout: a task's layer is its depth (longest chain of dependencies above it), layers run left to
right, and a few barycentre sweeps order each layer so that edges cross less. A layer taller than
:data:`PER_COLUMN` wraps into several columns. Every piece of text is escaped: task ids are
constrained by the plan format, but titles and errors are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise

import networkx as nx

STATUS_COLOURS = {
    "succeeded": "#3a9d5d",
    "failed": "#d64545",
    "skipped": "#a78bca",
    "cancelled": "#e2a13a",
    "running": "#3b82c4",
    "pending": "#c9ced6",
    "replaced": "#8a94a6",
    "waiting": "#6c8ebf",
}
"""One colour per task status, shared by the report and the dashboards."""
CRITICAL = "#ff7a00"
NODE_W, NODE_H = 168.0, 18.0
GAP_X, GAP_Y = 44.0, 5.0
PER_COLUMN = 50
MARGIN = 10.0
_LABEL_CHARS = 24


@dataclass(frozen=True, slots=True)
class Layout:
    position: dict[str, tuple[float, float]]
    """Top-left corner of each task's box."""
    width: float
    height: float


def layers(graph: nx.DiGraph[str]) -> dict[str, int]:
    """Each task's depth: 0 for tasks without dependencies, else 1 + its deepest dependency."""
    depth: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        depth[node] = max((depth[p] + 1 for p in graph.predecessors(node)), default=0)
    return depth


def order_layers(graph: nx.DiGraph[str], depth: Mapping[str, int]) -> list[list[str]]:
    """Tasks per layer, ordered to reduce crossings (starting from the graph's node order)."""
    count = max(depth.values(), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(count)]
    for node in graph:
        rows[depth[node]].append(node)
    for _ in range(2):
        for i in range(1, count):  # down: by the mean position of dependencies
            _sort_by(rows[i], rows[i - 1], graph.predecessors)
        for i in range(count - 2, -1, -1):  # up: by the mean position of dependents
            _sort_by(rows[i], rows[i + 1], graph.successors)
    return rows


def _sort_by(
    row: list[str], neighbours_row: list[str], neighbours: Callable[[str], Iterable[str]]
) -> None:
    index = {node: i for i, node in enumerate(neighbours_row)}
    current = {node: i for i, node in enumerate(row)}

    def key(node: str) -> tuple[float, int]:
        near = [index[n] for n in neighbours(node) if n in index]
        return (sum(near) / len(near) if near else current[node], current[node])

    row.sort(key=key)


def layout(graph: nx.DiGraph[str], per_column: int = PER_COLUMN) -> Layout:
    position: dict[str, tuple[float, float]] = {}
    x = MARGIN
    tallest = 0
    for row in order_layers(graph, layers(graph)):
        columns = [row[i : i + per_column] for i in range(0, len(row), per_column)] or [[]]
        for column in columns:
            for j, node in enumerate(column):
                position[node] = (x, MARGIN + j * (NODE_H + GAP_Y))
            tallest = max(tallest, len(column))
            x += NODE_W + GAP_X
    height = MARGIN * 2 + max(tallest, 1) * (NODE_H + GAP_Y)
    return Layout(position, max(x - GAP_X + MARGIN, 2 * MARGIN), height)


def _label(task_id: str) -> str:
    if len(task_id) <= _LABEL_CHARS:
        return task_id
    return task_id[: _LABEL_CHARS - 1] + "…"


def render_dag(
    graph: nx.DiGraph[str],
    status: Mapping[str, str],
    critical_path: Sequence[str],
    tooltips: Mapping[str, str] | None = None,
) -> str:
    """An inline ``<svg>`` of the DAG; each node links to ``#task-<id>``."""
    tooltips = tooltips or {}
    placed = layout(graph)
    pos = placed.position
    on_path = set(critical_path)
    path_edges = set(pairwise(critical_path))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{placed.width:.0f}" '
        f'height="{placed.height:.0f}" viewBox="0 0 {placed.width:.0f} {placed.height:.0f}" '
        'role="img" aria-label="the run\'s DAG coloured by task status">',
        '<g class="edges" fill="none" stroke="#8a94a6" stroke-opacity="0.45" stroke-width="1">',
    ]
    critical_edges = []
    for a, b in graph.edges():
        d = _edge_path(pos[a], pos[b])
        if (a, b) in path_edges:
            critical_edges.append(d)
        else:
            parts.append(f'<path d="{d}"/>')
    parts.append("</g>")
    parts.append(f'<g class="critical-edges" fill="none" stroke="{CRITICAL}" stroke-width="3">')
    parts.extend(f'<path d="{d}"/>' for d in critical_edges)
    parts.append('</g><g class="nodes" font-size="11" font-family="sans-serif">')
    for node in graph:
        x, y = pos[node]
        state = status.get(node, "pending")
        fill = STATUS_COLOURS.get(state, "#c9ced6")
        stroke = (
            f'stroke="{CRITICAL}" stroke-width="3"'
            if node in on_path
            else 'stroke="#4b5563" stroke-width="0.6"'
        )
        tip = tooltips.get(node, f"{node}: {state}")
        klass = "node critical" if node in on_path else "node"
        parts.append(
            f'<a href="#task-{escape(node)}" class="{klass}" data-status="{escape(state)}">'
            f"<title>{escape(tip)}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W:.0f}" height="{NODE_H:.0f}" rx="3" '
            f'fill="{fill}" {stroke}/>'
            f'<text x="{x + 5:.1f}" y="{y + NODE_H - 5:.1f}" fill="#111">'
            f"{escape(_label(node))}</text></a>"
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _edge_path(a: tuple[float, float], b: tuple[float, float]) -> str:
    x1, y1 = a[0] + NODE_W, a[1] + NODE_H / 2
    x2, y2 = b[0], b[1] + NODE_H / 2
    bend = max(20.0, (x2 - x1) / 2)
    return (
        f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    )

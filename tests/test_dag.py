"""The plan's DAG: structural checks on raw data, critical-path priorities and the renderers."""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.dag import (
    Dag,
    build_graph,
    critical_path,
    graph_problems,
    longest_remaining,
    render_dot,
    render_mermaid,
    render_tree,
)
from swarm.errors import Problem
from swarm.plan import Plan, parse_plan


def task(tid: str, *deps: str, kind: str = "llm") -> dict[str, Any]:
    return {"id": tid, "kind": kind, "prompt": f"do {tid}", "deps": list(deps)}


def raw_plan(*tasks: Any) -> dict[str, Any]:
    return {"goal": "g", "tasks": list(tasks)}


def digraph(edges: list[tuple[str, str]], nodes: tuple[str, ...] = ()) -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    for node in graph:
        graph.nodes[node]["kind"] = "llm"
    return graph


# a -> b -> d, a -> c -> d: the diamond most tests use.
DIAMOND = raw_plan(task("a"), task("b", "a"), task("c", "a"), task("d", "b", "c"))


# -- structural problems ---------------------------------------------------------------------


def test_a_valid_dag_has_no_problems() -> None:
    assert graph_problems(DIAMOND, known_kinds={"llm"}) == []


@pytest.mark.parametrize("raw", [None, [], "x", {"goal": "g"}, {"tasks": {"a": {}}}])
def test_data_without_a_task_list_is_left_to_the_model_checks(raw: Any) -> None:
    assert graph_problems(raw) == []


def test_tasks_without_a_string_id_are_left_to_the_model_checks() -> None:
    raw = raw_plan(task("a"), {"kind": "llm"}, {"id": 3}, "junk", task("b", "a"))
    assert graph_problems(raw) == []


def test_duplicate_ids() -> None:
    raw = raw_plan(task("a"), task("b"), task("a"), task("b"))
    assert graph_problems(raw) == [
        Problem("task 'a'", "id", "duplicate id (also tasks[0])"),
        Problem("task 'b'", "id", "duplicate id (also tasks[1])"),
    ]


def test_unknown_dependency() -> None:
    raw = raw_plan(task("a"), task("b", "a", "ghost"))
    assert graph_problems(raw) == [Problem("task 'b'", "deps", "unknown dependency 'ghost'")]


def test_self_dependency() -> None:
    raw = raw_plan(task("a", "a"))
    assert graph_problems(raw) == [Problem("task 'a'", "deps", "a task cannot depend on itself")]


def test_dependency_listed_twice() -> None:
    raw = raw_plan(task("a"), task("b", "a", "a"))
    assert graph_problems(raw) == [Problem("task 'b'", "deps", "dependency 'a' listed twice")]


def test_non_string_deps_are_left_to_the_model_checks() -> None:
    raw = raw_plan(task("a"), {"id": "b", "kind": "llm", "deps": "a"}, task("c", 5))  # type: ignore[arg-type]
    assert graph_problems(raw) == []


def cycle_path(problem: Problem) -> list[str]:
    assert problem.message.startswith("cycle: ")
    return problem.message.removeprefix("cycle: ").split(" -> ")


def test_a_cycle_is_reported_with_its_path() -> None:
    raw = raw_plan(task("a", "c"), task("b", "a"), task("c", "b"), task("d", "c"))
    [problem] = graph_problems(raw)
    assert (problem.where, problem.field) == ("task 'a'", "deps")
    assert problem.message == "cycle: a -> b -> c -> a"


@pytest.mark.parametrize("order", ["xyz", "zyx", "yzx"])
def test_a_cycle_path_starts_at_its_smallest_id_whatever_the_task_order(order: str) -> None:
    # x -> y -> z -> x; the text must not depend on set iteration order (hash seeds).
    deps = {"x": "z", "y": "x", "z": "y"}
    raw = raw_plan(*(task(tid, deps[tid]) for tid in order))
    [problem] = graph_problems(raw)
    assert problem.message == "cycle: x -> y -> z -> x"


def test_every_cycle_is_reported_once_at_its_smallest_id() -> None:
    raw = raw_plan(
        task("p", "q"), task("q", "p"), task("x", "z"), task("y", "x"), task("z", "y"), task("ok")
    )
    problems = graph_problems(raw)
    assert [(p.where, p.field) for p in problems] == [("task 'p'", "deps"), ("task 'x'", "deps")]
    edges = {(dep, t["id"]) for t in raw["tasks"] for dep in t["deps"]}
    for problem, members in zip(problems, [{"p", "q"}, {"x", "y", "z"}], strict=True):
        path = cycle_path(problem)
        assert path[0] == path[-1]
        assert set(path) == members
        # Each step of the path is a real edge: dependency -> dependent.
        assert all(pair in edges for pair in itertools.pairwise(path))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 12).flatmap(
        lambda n: st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] != e[1]),
            max_size=3 * n,
            unique=True,
        ).map(lambda edges: (n, edges))
    )
)
def test_the_cycle_check_finds_what_networkx_finds(
    shape: tuple[int, list[tuple[int, int]]],
) -> None:
    """Without networkx: one problem per strongly connected component of two or more tasks, at
    its smallest id, with a shortest real cycle through it; none for a DAG."""
    n, edges = shape
    ids = [f"t{i:02d}" for i in range(n)]
    deps: dict[str, list[str]] = {tid: [] for tid in ids}
    for a, b in edges:
        deps[ids[b]].append(ids[a])
    raw = raw_plan(*(task(tid, *deps[tid]) for tid in ids))
    problems = graph_problems(raw)
    graph = digraph([(ids[a], ids[b]) for a, b in edges], tuple(ids))
    components = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert [p.where for p in problems] == [f"task {min(c)!r}" for c in sorted(components, key=min)]
    for problem, component in zip(problems, sorted(components, key=min), strict=True):
        path = cycle_path(problem)
        assert path[0] == path[-1] == min(component) and set(path) <= component
        assert all(graph.has_edge(a, b) for a, b in itertools.pairwise(path))
        sub = graph.subgraph(component)
        # the shortest cycle through the start: back along one of its incoming edges (not
        # nx.simple_cycles, which networkx 3.2, the lowest supported, builds with an import
        # of pandas that warns)
        shortest = min(
            nx.shortest_path_length(sub, path[0], u) + 1 for u in sub.predecessors(path[0])
        )
        assert len(path) - 1 == shortest


def test_unknown_kinds_only_when_the_known_kinds_are_given() -> None:
    raw = raw_plan(task("a"), task("b", kind="telepathy"), task("c", kind="dowsing"))
    assert graph_problems(raw) == []
    assert graph_problems(raw, known_kinds={"llm", "code"}) == [
        Problem("task 'b'", "kind", "unknown kind 'telepathy' (known: code, llm)"),
        Problem("task 'c'", "kind", "unknown kind 'dowsing' (known: code, llm)"),
    ]


def test_all_structural_problems_come_together() -> None:
    raw = raw_plan(
        task("a"),
        task("a"),
        task("b", "b"),
        task("c", "ghost"),
        task("d", "e"),
        task("e", "d"),
        task("f", kind="telepathy"),
    )
    found = {
        (p.where, p.field, p.message.split(" ")[0])
        for p in graph_problems(raw, known_kinds={"llm"})
    }
    assert found == {
        ("task 'a'", "id", "duplicate"),
        ("task 'b'", "deps", "a"),
        ("task 'c'", "deps", "unknown"),
        ("task 'd'", "deps", "cycle:"),
        ("task 'f'", "kind", "unknown"),
    }


# -- graph and priorities --------------------------------------------------------------------


def test_build_graph_points_from_dependency_to_dependent() -> None:
    graph = build_graph(parse_plan(raw_plan(task("a"), task("b", "a", kind="other"))))
    assert sorted(graph.edges()) == [("a", "b")]
    assert graph.nodes["a"]["kind"] == "llm"
    assert graph.nodes["b"]["kind"] == "other"


def test_longest_remaining_counts_the_heaviest_tail_and_the_task_itself() -> None:
    graph = build_graph(parse_plan(DIAMOND))
    assert longest_remaining(graph, {}) == {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}
    weights = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 0.5}
    assert longest_remaining(graph, weights) == {"a": 6.5, "b": 5.5, "c": 2.5, "d": 0.5}


def test_longest_remaining_of_disconnected_tasks_is_their_own_weight() -> None:
    graph = digraph([], nodes=("x", "y"))
    assert longest_remaining(graph, {"x": 4.0}) == {"x": 4.0, "y": 1.0}


def test_critical_path_follows_the_heaviest_branch() -> None:
    graph = build_graph(parse_plan(DIAMOND))
    assert critical_path(graph, {"c": 3.0}) == ["a", "c", "d"]
    assert critical_path(graph, {"b": 3.0}) == ["a", "b", "d"]


def test_critical_path_ties_are_broken_by_id() -> None:
    graph = build_graph(parse_plan(DIAMOND))
    assert critical_path(graph, {n: 1.0 for n in graph}) == ["a", "b", "d"]
    two_chains = digraph([("q", "r"), ("m", "n")])
    assert critical_path(two_chains, {}) == ["m", "n"]


def test_critical_path_picks_the_heaviest_source() -> None:
    graph = digraph([("z1", "z2"), ("z2", "z3"), ("a1", "a2")])
    assert critical_path(graph, {}) == ["z1", "z2", "z3"]


def test_critical_path_of_an_empty_graph() -> None:
    assert critical_path(digraph([]), {}) == []


# -- renderers -------------------------------------------------------------------------------


def test_render_tree_shows_a_shared_task_once() -> None:
    graph = build_graph(parse_plan(raw_plan(*DIAMOND["tasks"], task("e", "b"), task("x"))))
    assert render_tree(graph) == "\n".join(
        [
            "a [llm]",
            "├── b [llm]",
            "│   ├── d [llm]",
            "│   └── e [llm]",
            "└── c [llm]",
            "    └── d (see above)",
            "x [llm]",
        ]
    )


def test_render_tree_uses_the_given_labels() -> None:
    graph = build_graph(parse_plan(raw_plan(task("a"), task("b", "a"))))
    assert render_tree(graph, {"a": "A!", "b": "B!"}) == "A!\n└── B!"


def test_render_mermaid() -> None:
    graph = build_graph(parse_plan(DIAMOND))
    assert render_mermaid(graph) == "\n".join(
        [
            "flowchart TD",
            '    n0["a (llm)"]',
            '    n1["b (llm)"]',
            '    n2["c (llm)"]',
            '    n3["d (llm)"]',
            "    n0 --> n1",
            "    n0 --> n2",
            "    n1 --> n3",
            "    n2 --> n3",
        ]
    )


def test_render_mermaid_escapes_hashes() -> None:
    graph = digraph([], nodes=("a",))
    graph.nodes["a"]["kind"] = "c#"
    assert '"a (c#35;)"' in render_mermaid(graph)


def test_render_dot() -> None:
    graph = build_graph(parse_plan(raw_plan(task("a"), task("b.1", "a", kind='we"ird'))))
    assert render_dot(graph) == "\n".join(
        [
            "digraph plan {",
            "    rankdir=TB;",
            "    node [shape=box];",
            '    "a" [label="a\\nllm"];',
            '    "b.1" [label="b.1\\nwe\\"ird"];',
            '    "a" -> "b.1";',
            "}",
        ]
    )


def test_the_runs_dag_scores_tasks_as_the_networkx_graph_does() -> None:
    plan = Plan.model_validate(
        {
            "goal": "g",
            "tasks": [
                {"id": "d", "kind": "llm", "prompt": "x", "deps": ["b", "c"]},
                {"id": "b", "kind": "llm", "prompt": "x", "deps": ["a"]},
                {"id": "a", "kind": "llm", "prompt": "x"},
                {"id": "c", "kind": "llm", "prompt": "x", "deps": ["a"]},
                {"id": "e", "kind": "llm", "prompt": "x"},
            ],
        }
    )
    dag, graph = Dag(plan), build_graph(plan)
    weight = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0, "e": 6.5}
    assert longest_remaining(dag, weight) == longest_remaining(graph, weight)
    assert critical_path(dag, weight) == critical_path(graph, weight) == ["a", "b", "d"]
    order = list(dag)
    assert sorted(order) == sorted(weight)
    assert all(order.index(dep) < order.index(s.id) for s in plan.tasks for dep in s.deps)

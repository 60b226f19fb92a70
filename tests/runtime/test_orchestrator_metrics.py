"""Critical steps as the K2.5 report defines them: per stage, the orchestrator's steps plus the
slowest sub-agent's, summed over stages; nested orchestrators count their own stages; a plan
without orchestrators keeps the heaviest dependency chain."""

from __future__ import annotations

import networkx as nx

from swarm.runtime.metrics import compute_metrics, orchestrator_stages, steps_critical


def graph(*nodes: str, edges: tuple[tuple[str, str], ...] = ()) -> nx.DiGraph[str]:
    made: nx.DiGraph[str] = nx.DiGraph()
    made.add_nodes_from(nodes)
    made.add_edges_from(edges)
    return made


def test_each_stage_adds_its_slowest_sub_agent_to_the_orchestrators_steps() -> None:
    g = graph("o", "o:s1-1", "o:s1-2", "o:s1-3", "o:s2-1")
    steps = {"o": 3, "o:s1-1": 9, "o:s1-2": 40, "o:s1-3": 7, "o:s2-1": 5}
    critical, stages = orchestrator_stages(g, steps)
    assert critical == {"o": 3 + 40 + 5}
    assert [(s.stage, s.subagents, s.slowest, s.slowest_steps) for s in stages] == [
        (1, 3, "o:s1-2", 40),
        (2, 1, "o:s2-1", 5),
    ]
    assert steps_critical(g, steps) == 48
    metrics = compute_metrics(g, {}, steps, 100, 1.0)
    assert metrics.steps_total == 64 and metrics.steps_ratio == 64 / 48
    assert metrics.as_dict()["stages"][0] == {
        "orchestrator": "o",
        "stage": 1,
        "subagents": 3,
        "slowest": "o:s1-2",
        "slowest_steps": 40,
    }


def test_a_nested_orchestrator_weighs_its_own_critical_steps() -> None:
    g = graph("o", "o:s1-1", "o:s1-2", "o:s1-1:s1-1", "o:s1-1:s1-2")
    steps = {"o": 2, "o:s1-1": 3, "o:s1-2": 10, "o:s1-1:s1-1": 4, "o:s1-1:s1-2": 9}
    critical, _ = orchestrator_stages(g, steps)
    assert critical["o:s1-1"] == 3 + 9
    assert critical["o"] == 2 + max(12, 10)


def test_upstream_work_of_a_plan_adds_to_an_orchestrator_task() -> None:
    g = graph("scope", "o", "o:s1-1", "memo", edges=(("scope", "o"), ("o", "memo")))
    steps = {"scope": 4, "o": 2, "o:s1-1": 6, "memo": 1}
    assert steps_critical(g, steps) == 4 + (2 + 6) + 1


def test_a_plan_without_orchestrators_is_measured_as_before() -> None:
    g = graph("a", "b", "c", "map:0001", edges=(("a", "b"), ("a", "c")))
    steps = {"a": 1, "b": 5, "c": 2, "map:0001": 3}
    assert orchestrator_stages(g, steps) == ({}, [])
    assert steps_critical(g, steps) == 6

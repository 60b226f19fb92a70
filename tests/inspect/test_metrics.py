"""Run metrics as a pure function: speedup, critical steps, the lower bound and efficiency."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from swarm.runtime.metrics import compute_metrics
from swarm.store.queries import active_seconds


def graph(*edges: tuple[str, str], nodes: tuple[str, ...] = ()) -> nx.DiGraph[str]:
    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    return g


def test_a_chain_cannot_go_faster_than_its_length() -> None:
    g = graph(("a", "b"), ("b", "c"))
    m = compute_metrics(g, {"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 1, "b": 2, "c": 3}, 8, 6.5)
    assert m.serial_s == 6.0
    assert m.critical_path == ("a", "b", "c") and m.critical_path_s == 6.0
    assert m.steps_total == 6 and m.steps_critical == 6 and m.steps_ratio == 1.0
    assert m.lower_bound_s == 6.0  # the chain, not work / slots (0.75)
    assert m.speedup == pytest.approx(6.0 / 6.5)
    assert m.efficiency == pytest.approx(6.0 / 6.5)


def test_wide_work_is_bounded_by_the_slots() -> None:
    g = graph(nodes=tuple(f"t{i}" for i in range(8)))
    durations = {f"t{i}": 1.0 for i in range(8)}
    m = compute_metrics(g, durations, dict.fromkeys(durations, 2), 2, 4.0)
    assert m.lower_bound_s == 4.0  # 8 s of work on 2 slots
    assert m.efficiency == 1.0 and m.speedup == 2.0
    assert m.steps_total == 16 and m.steps_critical == 2 and m.steps_ratio == 8.0
    assert len(m.critical_path) == 1


def test_the_critical_path_follows_durations_and_steps_follow_steps() -> None:
    # a -> c is long in time, b -> c is heavy in steps
    g = graph(("a", "c"), ("b", "c"))
    m = compute_metrics(g, {"a": 5.0, "b": 1.0, "c": 1.0}, {"a": 1, "b": 9, "c": 1}, 4, 7.0)
    assert m.critical_path == ("a", "c") and m.critical_path_s == 6.0
    assert m.steps_critical == 10


def test_empty_and_unstarted_runs_have_no_ratios() -> None:
    m = compute_metrics(graph(), {}, {}, 4, 0.0)
    assert m.speedup is None and m.efficiency is None and m.steps_ratio is None
    assert m.critical_path == () and m.lower_bound_s == 0.0
    untouched = compute_metrics(graph(("a", "b")), {}, {}, 4, 0.0)
    assert untouched.steps_total == 0 and untouched.serial_s == 0.0


def test_as_dict_is_json_and_rounded() -> None:
    g = graph(("a", "b"))
    data = compute_metrics(g, {"a": 1 / 3, "b": 2 / 3}, {"a": 1, "b": 1}, 3, 1.0).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["serial_s"] == 1.0 and data["critical_path"] == ["a", "b"]
    assert data["lower_bound_s"] == 1.0 and data["concurrency"] == 3


def test_active_time_sums_the_sessions_of_a_run() -> None:
    marks = [
        ("run.started", 100.0),
        ("run.finished", 110.0),  # cancelled after 10 s
        ("run.resumed", 200.0),
        ("run.resumed", 205.0),  # the first resume died after 5 s
        ("run.finished", 212.0),
    ]
    assert active_seconds(marks, end=None) == 10.0 + 5.0 + 7.0
    assert active_seconds([("run.started", 5.0)], end=9.0) == 4.0  # live: up to now
    assert active_seconds([], end=9.0) == 0.0

"""Grouping ops into many-row statements: every row still sees its changes in order."""

from __future__ import annotations

import json

import pytest

from swarm.store.batch import check_op, deps_json, plan_batch
from swarm.store.ops import Event, Op, RunFinished, RunStarted, TasksSkipped
from tests.store.builders import finished, started


def test_one_segment_for_starts_then_results() -> None:
    ops: list[Op] = [started("a"), started("b"), finished("a"), started("c"), finished("b")]
    plan = plan_batch(ops)
    assert len(plan.segments) == 1
    seg = plan.segments[0]
    assert [row[4] for row in seg.attempt_started] == ["a", "b", "c"]
    assert [op.task_id for _, op in seg.finished] == ["a", "b"]
    assert [index for index, _ in seg.finished] == [2, 4]


def test_a_retry_started_after_its_result_opens_a_new_segment() -> None:
    ops: list[Op] = [
        started("a"),
        finished("a", task_status="pending"),
        started("a", attempt=2),
        finished("a", attempt=2),
    ]
    plan = plan_batch(ops)
    assert len(plan.segments) == 2
    first, second = plan.segments
    assert [row[0] for row in first.attempt_started] == [1]
    assert [op.attempt for _, op in first.finished] == [1]
    assert [row[0] for row in second.attempt_started] == [2]
    assert [op.attempt for _, op in second.finished] == [2]


def test_other_tasks_do_not_split_segments() -> None:
    ops: list[Op] = [finished("a"), started("b"), finished("b"), started("c")]
    assert len(plan_batch(ops).segments) == 1


def test_a_run_restarted_after_it_finished_opens_a_new_segment() -> None:
    ops: list[Op] = [
        RunStarted("r1", 1.0, 10, False),
        RunFinished("r1", "cancelled", 2.0),
        RunStarted("r1", 3.0, 11, True),
    ]
    assert len(plan_batch(ops).segments) == 2


def test_events_keep_submission_order_and_mark_fenced_ops() -> None:
    ops: list[Op] = [
        RunStarted("r1", 1.0, 10, False),
        started("a"),
        Event("r1", "note", 1.5, data={"x": 1}),
        finished("a"),
        TasksSkipped("r1", ("b", "c"), "a", 3.0),
        RunFinished("r1", "failed", 4.0, {"n": 1}, ()),
    ]
    plan = plan_batch(ops)
    types = [row[2] for _, row in plan.events]
    assert types == [
        "run.started",
        "task.started",
        "note",
        "task.succeeded",
        "task.skipped",
        "task.skipped",
        "run.finished",
    ]
    fenced = [index for index, _ in plan.events]
    assert fenced == [-1, -1, -1, 3, -1, -1, 5]  # a run's end is refused with a stale result


def test_an_events_only_batch_has_no_segments() -> None:
    plan = plan_batch([Event("r1", "note", 1.0)])
    assert plan.segments == []
    assert len(plan.events) == 1


def test_odd_json_values_do_not_fail_the_batch() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd"

    plan = plan_batch([Event("r1", "note", 1.0, data={"value": Odd()})])
    assert plan.events[0][1][5] == '{"value": "odd"}'


@pytest.mark.parametrize(
    "op",
    [
        finished("a", task_status="done"),
        finished("a", outcome="weird"),
        RunFinished("r1", "running", 1.0),
    ],
)
def test_unknown_statuses_are_refused(op: Op) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        check_op(op)


def test_other_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="not a store op"):
        check_op("RunStarted")  # type: ignore[arg-type]


def test_known_statuses_pass() -> None:
    for status in ("succeeded", "failed", "pending", "cancelled"):
        check_op(finished("a", task_status=status))
    check_op(finished("a", task_status="pending", outcome="timeout"))
    check_op(RunFinished("r1", "succeeded", 1.0))


@pytest.mark.parametrize(
    "deps", [(), ("a",), ("t1", "t2", "x:y-z.w_v"), ('a"b',), ("ü", "b"), ("x\\y", "z"), ("a b",)]
)
def test_deps_json_is_exactly_json_dumps(deps: tuple[str, ...]) -> None:
    assert deps_json(deps) == json.dumps(list(deps))

"""Reading untrusted text: thinking traces, bounded JSON scanning, and why no plan was found."""

from __future__ import annotations

import json
import time

import pytest

from planners.extract import (
    MAX_DEPTH,
    ThinkFilter,
    diagnose,
    json_objects,
    plan_candidates,
    strip_thinking,
    value_problem,
)


def test_think_filter_holds_back_a_partial_tag_and_marks_stray_closes() -> None:
    think = ThinkFilter()
    assert think.feed("answer <th") == ["answer "]
    assert think.feed("ink>secret</thi") == [""]
    assert think.inside
    assert think.feed("nk> after </think> real") == [" after ", " real"]
    assert think.flush() == ""


def test_think_filter_flush_drops_an_unterminated_trace() -> None:
    think = ThinkFilter()
    think.feed("ok <think> still thinking <")
    assert think.flush() == ""
    plain = ThinkFilter()
    assert plain.feed("a <") == ["a "]
    assert plain.flush() == "<"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<think>x</think>plan", "plan"),
        ("thoughts</think>plan", "plan"),
        ("a<think>b</think>c<think>d</think>e", "ace"),
        ("no tags", "no tags"),
        ("<think>never closed", ""),
    ],
)
def test_strip_thinking(text: str, answer: str) -> None:
    assert strip_thinking(text) == answer


def test_json_objects_finds_objects_in_prose_and_is_bounded() -> None:
    text = 'intro {"a": 1} middle {"b": {"c": 2}} end {broken'
    assert json_objects(text) == [{"a": 1}, {"b": {"c": 2}}]
    started = time.perf_counter()
    json_objects("{" * 200_000)
    json_objects('{"x": "' + "{" * 100_000)
    nested_strings = '{"a": "' * 300_000  # every decode reads to the end
    json_objects(nested_strings)
    diagnose(nested_strings)
    assert time.perf_counter() - started < 5


def test_plan_candidates_keep_order_and_unwrap_one_level() -> None:
    text = 'first {"tasks": []} then {"plan": {"tasks": [1]}} and {"other": 1}'
    assert plan_candidates(text) == [{"tasks": []}, {"tasks": [1]}]


def test_value_problem() -> None:
    assert value_problem({"a": [1, "x", {"b": None}]}) is None
    deep: object = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    assert "nested more than" in (value_problem(deep) or "")
    assert "not valid Unicode" in (value_problem({"k": json.loads('"\\udc80"')}) or "")
    assert "not valid Unicode" in (value_problem({json.loads('"\\ud800"'): 1}) or "")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "the answer is empty"),
        ("Sure, here is my plan: research, then write.", "prose only"),
        ('Plan: {"goal": "g", "tasks": [{"id": "a"', "never closes: the answer is truncated"),
        ("{'goal': 'g'}", "invalid JSON at line 1 column 2"),
        ('{"goal": "g"} and nothing else', "no plan found"),
    ],
)
def test_diagnose(text: str, words: str) -> None:
    (problem,) = diagnose(text)
    assert words in str(problem)
    assert problem.where == "output"


def test_diagnose_reports_a_truncated_plan_after_an_object_that_parses() -> None:
    (problem,) = diagnose('example {"a": 1}\nplan:\n{"tasks": [')
    assert "starts on line 3 never closes" in str(problem)

"""Untrusted text and JSON: lone surrogates and NULs cleaned, non-JSON numbers and runaway
nesting refused (issue 16, defects 5 and 6)."""

from __future__ import annotations

import sqlite3

import pytest

from swarm.untrusted import (
    MAX_JSON_DEPTH,
    JsonRefused,
    clean_text,
    dumps_json,
    loads_json,
    too_deep,
)


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    raw = "a\ud800b\udfffc"
    with pytest.raises(UnicodeEncodeError):
        raw.encode("utf-8")
    assert clean_text(raw) == "a\ufffdb\ufffdc"


def test_a_split_surrogate_pair_is_joined_and_nul_replaced() -> None:
    assert clean_text("x\ud83d\ude00y") == "x\U0001f600y"
    assert clean_text("a\x00b") == "a\ufffdb"
    clean = "plain, caf\u00e9, \u4e2d\u6587"
    assert clean_text(clean) is clean


def test_cleaned_text_binds_in_sqlite() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (v TEXT)")
    value = loads_json('{"label": "\\ud800"}')
    with pytest.raises(UnicodeEncodeError):
        conn.execute("INSERT INTO t VALUES (?)", ('{"label": "\ud800"}',))
    conn.execute("INSERT INTO t VALUES (?)", (dumps_json(value),))
    assert conn.execute("SELECT v FROM t").fetchone()[0] == '{"label": "\ufffd"}'


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"score": NaN}', "NaN is not a JSON number"),
        ('{"score": Infinity}', "Infinity is not a JSON number"),
        ('{"score": -Infinity}', "-Infinity is not a JSON number"),
        ('{"score": 1e999}', "too large"),
        ("[-1e400]", "too large"),
    ],
)
def test_non_json_numbers_are_refused(text: str, says: str) -> None:
    with pytest.raises(JsonRefused, match=says):
        loads_json(text)


def test_finite_numbers_pass() -> None:
    assert loads_json('{"a": 1.5e300, "b": -0.0, "c": 12}') == {"a": 1.5e300, "b": -0.0, "c": 12}


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    for depth in (MAX_JSON_DEPTH + 1, 900, 5000):
        with pytest.raises(JsonRefused, match="nested more than"):
            loads_json("[" * depth + "]" * depth)
        with pytest.raises(JsonRefused, match="nested more than"):
            loads_json('{"a":' * depth + "1" + "}" * depth)
    assert loads_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None


def test_depth_counts_containers() -> None:
    assert not too_deep([[1]], 2) and too_deep([[[1]]], 2)
    assert not too_deep({"a": {"b": "deep text"}}, 2) and too_deep({"a": {"b": []}}, 2)


def test_keys_and_nested_strings_are_cleaned() -> None:
    value = loads_json('{"\\udc00k": ["\\ud800", {"x": "ok\\u0000"}]}')
    assert value == {"\ufffdk": ["\ufffd", {"x": "ok\ufffd"}]}
    dumps_json(value).encode("utf-8")

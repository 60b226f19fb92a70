"""The two ways a plan is validated agree: the committed JSON Schema vouching for it without the
plan models (what `swarm validate` does with a valid plan), and the models themselves (what it
falls back to when the schema cannot vouch). Same document, same problems, same words."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import swarm.validation
from swarm.errors import PlanError
from swarm.validation import check_data, validate_data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_cli_startup import mixed_plan_file  # noqa: E402


def _corpus(tmp_path: Path) -> dict[str, Any]:
    plans: dict[str, Any] = {}
    folders = [ROOT / "examples", ROOT / "tests" / "fixtures" / "bad_plans"]
    for path in sorted(p for folder in folders for p in folder.glob("*.json")):
        try:
            plans[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue  # not a JSON document: the reader's problem, before either path
    plans["mixed"] = json.loads(mixed_plan_file(tmp_path, 300).read_text(encoding="utf-8"))
    return {name: raw for name, raw in plans.items() if isinstance(raw, dict)}


def _outcome(raw: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", check_data(raw, source="p.json")
    except PlanError as exc:
        return "problems", [(p.where, p.field, p.message) for p in exc.problems]


def test_the_schema_path_and_the_models_path_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _corpus(tmp_path)
    fast = {name: _outcome(raw) for name, raw in corpus.items()}
    monkeypatch.setattr(swarm.validation, "fill_plan", lambda raw: None)
    monkeypatch.setattr(swarm.validation, "fill_task", lambda raw: None)
    slow = {name: _outcome(raw) for name, raw in corpus.items()}
    assert fast == slow
    assert sum(kind == "ok" for kind, _ in fast.values()) >= 9  # the examples and the mixed plan


def test_a_valid_plan_gives_the_models_own_dump(tmp_path: Path) -> None:
    for name, raw in _corpus(tmp_path).items():
        kind, doc = _outcome(raw)
        if kind == "ok":
            assert doc == validate_data(raw).model_dump(), name

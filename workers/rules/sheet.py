"""The ``sheet`` kind's checks: the aggregator settings, ``formats``, and each table's columns,
sources, path and name (one table, or a list of them under ``sheets``)."""

from __future__ import annotations

import re
from typing import Any

from swarm.errors import Problem
from swarm.task_fields import TaskFields
from workers.rules.common import choice_problems, common_problems

FORMATS = ("xlsx", "csv")
TABLE_KEYS = {"name", "columns", "source", "path"}
TYPES = ("string", "integer", "number", "boolean", "date", "year", "id", "currency", "percent")
"""``year`` is a whole number shown without separators (1981); ``id`` is text kept as written
(zip codes, account numbers: "01010"); ``currency`` and ``percent`` are numbers shown with fixed
places (a percent is a fraction: 0.25 is 25%)."""
NUMERIC = frozenset({"number", "currency", "percent"})
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def check(spec: TaskFields) -> list[Problem]:
    where, cfg = f"task {spec.id!r}", spec.config
    problems = common_problems(spec, TABLE_KEYS | {"sheets", "formats"})
    problems += choice_problems(spec, "formats", FORMATS)
    if "sheets" in cfg:
        if TABLE_KEYS & set(cfg):
            problems.append(Problem(where, "config", "give either 'sheets' or one table"))
        raw = cfg["sheets"]
        if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
            return [*problems, Problem(where, "config.sheets", "must be a list of tables")]
        for i, table in enumerate(raw):
            problems += _table_problems(spec, table, f"config.sheets[{i}].")
        names = [str(t.get("name") or f"Sheet{i + 1}") for i, t in enumerate(raw)]
        if len({sheet_title(n) for n in names}) != len(names):
            problems.append(Problem(where, "config.sheets", "sheet names must differ"))
    else:
        problems += _table_problems(spec, cfg, "config.")
    return problems


def sheet_title(name: str) -> str:
    """A sheet's name as a workbook may hold it (31 characters, none of ``[]:*?/\\``)."""
    return _BAD_SHEET_CHARS.sub("-", name).strip("'")[:31] or "Sheet"


def _table_problems(spec: TaskFields, raw: dict[str, Any], prefix: str) -> list[Problem]:
    where = f"task {spec.id!r}"
    problems = column_problems(where, f"{prefix}columns", raw.get("columns"))
    if prefix != "config." and (unknown := set(raw) - TABLE_KEYS):
        problems.append(Problem(where, prefix.rstrip("."), f"unknown keys: {sorted(unknown)}"))
    source = raw.get("source", [])
    listed = [source] if isinstance(source, str) else source
    if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
        problems.append(Problem(where, f"{prefix}source", "must be a dependency id or a list"))
    elif stray := sorted(set(listed) - set(spec.deps)):
        problems.append(
            Problem(where, f"{prefix}source", f"not dependencies of this task: {stray}")
        )
    if "path" in raw and not isinstance(raw["path"], str):
        problems.append(Problem(where, f"{prefix}path", "must be a key (a string)"))
    if "name" in raw and (not isinstance(raw["name"], str) or not raw["name"].strip()):
        problems.append(Problem(where, f"{prefix}name", "must be a non-empty string"))
    return problems


def column_problems(where: str, field: str, raw: Any) -> list[Problem]:
    """Problems with a ``columns`` list from a plan."""
    if not isinstance(raw, list) or not raw:
        return [Problem(where, field, "must be a non-empty list of {name, type} objects")]
    problems, names = [], set()
    for i, col in enumerate(raw):
        at = f"{field}[{i}]"
        if not isinstance(col, dict) or not isinstance(col.get("name"), str) or not col["name"]:
            problems.append(Problem(where, at, "needs a non-empty string 'name'"))
            continue
        if unknown := set(col) - {"name", "type", "required", "places"}:
            problems.append(Problem(where, at, f"unknown keys: {sorted(unknown)}"))
        if col.get("type", "string") not in TYPES:
            problems.append(Problem(where, f"{at}.type", f"must be one of {', '.join(TYPES)}"))
        if not isinstance(col.get("required", False), bool):
            problems.append(Problem(where, f"{at}.required", "must be true or false"))
        places = col.get("places", 0)
        if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 10:
            problems.append(Problem(where, f"{at}.places", "must be an integer 0–10"))
        elif "places" in col and col.get("type", "string") not in NUMERIC:
            problems.append(
                Problem(where, f"{at}.places", "applies to number, currency and percent only")
            )
        if col["name"] in names:
            problems.append(Problem(where, at, f"duplicate column {col['name']!r}"))
        names.add(col["name"])
    return problems

"""Reading a plan file into a JSON object, with every failure a :class:`PlanError`: standard
library only, so `swarm validate` reads a plan without importing the plan models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from swarm.errors import PlanError, Problem

MAX_PLAN_BYTES = 64 * 1024 * 1024


_JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _fail(source: str, where: str, message: str) -> PlanError:
    return PlanError(source, [Problem(where, "", message)])


def decode_plan(text: str, *, source: str = "plan") -> dict[str, Any]:
    """Plan JSON text → a JSON object, or a :class:`PlanError` saying what is wrong."""
    if not text.strip():
        raise _fail(source, "plan", "the file is empty; a plan is a JSON object")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _fail(source, "plan", f"invalid JSON at {where}: {exc.msg}") from None
    if not isinstance(raw, dict):
        kind = _JSON_TYPES.get(type(raw), type(raw).__name__)
        raise _fail(source, "plan", f"a plan is a JSON object, not {kind}")
    return raw


def read_plan_file(path: str | Path) -> dict[str, Any]:
    """Read a plan file into a JSON object; every failure is a :class:`PlanError`."""
    p = Path(path)
    source = str(path)
    try:
        size = p.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise _fail(
                source, "file", f"{size} bytes is over the {MAX_PLAN_BYTES} byte limit for plans"
            )
        data = p.read_bytes()
    except OSError as exc:
        raise _fail(source, "file", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(source, "file", f"not UTF-8 text (byte {exc.start}): {exc.reason}") from None
    return decode_plan(text, source=source)

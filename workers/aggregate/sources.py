"""Upstream results as sections: each dependency's text or JSON turned into Markdown (JSON lists
of objects become tables whose rows are kept for charts), in the order the plan lists them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from workers.base import TaskContext

_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+")
LONG_ITEM = 160


@dataclass(frozen=True, slots=True)
class Section:
    """One dependency's result, ready to place in an artifact."""

    id: str
    title: str
    markdown: str
    rows: tuple[dict[str, Any], ...] = ()
    """The result's records when it is a JSON list of objects (a table, maybe a chart)."""


def humanise(task_id: str) -> str:
    words = re.sub(r"[-_.:]+", " ", task_id).strip()
    return words[:1].upper() + words[1:] if words else task_id


def parse(text: str) -> Any:
    """The result as JSON if it is JSON, else the text itself."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"'):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return text


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def table(rows: list[dict[str, Any]]) -> str:
    cols = columns_of(rows)
    lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + " --- |" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(value: Any) -> str:
    """Markdown for a result: text as it is, JSON as tables, lists and key–value bullets."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return table(value)
        parts = [to_markdown(v) for v in value]
        if all(len(p) <= LONG_ITEM and "\n" not in p for p in parts):
            return "\n".join(f"- {p}" for p in parts)
        return "\n\n".join(parts)
    if isinstance(value, dict):
        return "\n".join(f"- **{cell(k)}**: {cell(v)}" for k, v in value.items())
    return cell(value)


def records(value: Any) -> tuple[dict[str, Any], ...]:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return tuple(value)
    return ()


def sections(ctx: TaskContext, titles: dict[str, str] | None = None) -> list[Section]:
    """The task's dependencies' results as sections, in the plan's order."""
    titles = titles or {}
    out = []
    for dep in ctx.spec.deps:
        if dep not in ctx.inputs:
            continue
        value = parse(ctx.inputs[dep])
        title = titles.get(dep) or humanise(dep)
        out.append(Section(dep, title, to_markdown(value), records(value)))
    return out


def urls(texts: list[str]) -> list[str]:
    """Web addresses cited in the texts, first appearance first (for a sources list)."""
    found: dict[str, None] = {}
    for text in texts:
        found.update(dict.fromkeys(u.rstrip(".,;:") for u in _URL.findall(text)))
    return list(found)

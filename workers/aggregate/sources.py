"""Upstream results as sections: each dependency's text or JSON turned into Markdown, in the order
the plan lists them. JSON records keep their fields in the order the result gives them (the
schema's order, for a model asked for JSON); records of one shape become one table with readable
headers, whose rows are kept for charts; images from ``image`` tasks are kept for embedding."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from workers.aggregate.images import Picture, is_image_result, pictures_in
from workers.base import TaskContext

_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+")
LONG_ITEM = 160
LONG_FIELD = 80
"""A record's text field longer than this is shown as a paragraph, not squeezed into a cell."""
_UNITS = {"usd": "USD", "musd": "M USD", "eur": "EUR", "pct": "%", "percent": "%", "s": "s"}
_ACRONYMS = {"id", "url", "usd", "eur", "ceo", "api", "sla", "kpi"}
SUMMARY_FIELDS = ("summary", "description", "overview", "abstract")
LABEL_FIELDS = ("name", "title", "label", "company", "item")


@dataclass(frozen=True, slots=True)
class Section:
    """One dependency's result (or several of one shape), ready to place in an artifact."""

    id: str
    title: str
    markdown: str
    rows: tuple[dict[str, Any], ...] = ()
    """The result's records when it is a JSON list of objects (a table, maybe a chart)."""
    pictures: tuple[Picture, ...] = ()
    """Images an upstream ``image`` task made (embedded by the kinds that can show them)."""
    ids: tuple[str, ...] = ()
    """Every dependency this section stands for (several when records were merged)."""
    labels: tuple[str, ...] = ()
    """The title of each of :attr:`ids` (for a sources list)."""
    summary: str = ""
    """One line for an index card: a record's longest text, or what the table holds."""


def humanise(task_id: str) -> str:
    words = re.sub(r"[-_.:]+", " ", task_id).strip()
    return words[:1].upper() + words[1:] if words else task_id


def header(key: str) -> str:
    """A readable column header for a field name: ``revenue_musd`` → "Revenue (M USD)",
    ``success_rate`` → "Success rate", ``ceo_name`` → "CEO name"."""
    parts = [p for p in re.split(r"[_\-\s]+|(?<=[a-z])(?=[A-Z])", key.strip()) if p]
    if not parts:
        return key
    unit = _UNITS.get(parts[-1].lower()) if len(parts) > 1 else None
    if unit:
        parts = parts[:-1]
    words = [p.upper() if p.lower() in _ACRONYMS else p.lower() for p in parts]
    words[0] = words[0][:1].upper() + words[0][1:]
    text = " ".join(words)
    return f"{text} ({unit})" if unit else text


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
    """Every field of the records, in the order they first appear."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def table(rows: list[dict[str, Any]]) -> str:
    cols = columns_of(rows)
    lines = ["| " + " | ".join(cell(header(c)) for c in cols) + " |", "|" + " --- |" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def record(value: dict[str, Any]) -> str:
    """One object: its short fields as a two-column table, its long texts as paragraphs."""
    short = {k: v for k, v in value.items() if not _long(v)}
    lines = []
    if short:
        lines += ["| Field | Value |", "| --- | --- |"]
        lines += [f"| {cell(header(k))} | {cell(v)} |" for k, v in short.items()]
    for key, text in value.items():
        if _long(text):
            lines += ["", f"**{cell(header(key))}**", "", str(text).strip()]
    return "\n".join(lines).strip()


def _long(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > LONG_FIELD or "\n" in value)


def to_markdown(value: Any) -> str:
    """Markdown for a result: text as it is, JSON records as tables, lists as bullets."""
    if isinstance(value, str):
        return value.strip()
    rows = records(value)
    if rows:
        return table(list(rows))
    if isinstance(value, list):
        parts = [to_markdown(v) for v in value]
        if all(len(p) <= LONG_ITEM and "\n" not in p for p in parts):
            return "\n".join(f"- {p}" for p in parts)
        return "\n\n".join(parts)
    if isinstance(value, dict):
        return record(value)
    return cell(value)


def records(value: Any) -> tuple[dict[str, Any], ...]:
    """The records of a result: a list of objects, also when a ``map`` task's list holds each
    object as JSON text."""
    if not isinstance(value, list) or not value:
        return ()
    items = [parse(v) if isinstance(v, str) else v for v in value]
    if all(isinstance(v, dict) and v and not is_image_result(v) for v in items):
        return tuple(items)
    return ()


def sections(
    ctx: TaskContext, titles: dict[str, str] | None = None, *, merge: bool = True
) -> list[Section]:
    """The task's dependencies' results as sections, in the plan's order. A section's title is
    the one this task's config gives, else the dependency's own ``title``, else its id made
    readable. With ``merge``, consecutive results that are each one record of the same fields
    become one table (a row per result) instead of one list of fields each."""
    titles = titles or {}
    known = getattr(ctx, "dep_titles", {}) or {}
    out: list[Section] = []
    for dep in ctx.spec.deps:
        if dep not in ctx.inputs:
            continue
        value = parse(ctx.inputs[dep])
        title = titles.get(dep) or known.get(dep) or humanise(dep)
        out.append(_section(ctx, dep, title, value))
    return merge_records(out, ctx) if merge else out


def _section(ctx: TaskContext, dep: str, title: str, value: Any) -> Section:
    if is_image_result(value):
        found = pictures_in(value, ctx.run_dir)
        alt = "; ".join(p.alt for p in found[:1])
        return Section(dep, title, "", pictures=found, ids=(dep,), labels=(title,), summary=alt)
    rows = records(value)
    text = to_markdown(value)
    summary = summary_of(value, text)
    return Section(dep, title, text, rows, ids=(dep,), labels=(title,), summary=summary)


def summary_of(value: Any, text: str) -> str:
    """One line for a card: a record's longest text field, a table's size and first labels,
    else the first sentence-like line of the text."""
    if isinstance(value, dict):
        for key in SUMMARY_FIELDS:
            if isinstance(value.get(key), str) and value[key].strip():
                return str(value[key])
        texts = [v for v in value.values() if isinstance(v, str)]
        return max(texts, key=len, default="")
    rows = records(value)
    if rows:
        label = next((f for f in LABEL_FIELDS if all(f in r for r in rows)), None)
        names = ", ".join(str(r[label]) for r in rows[:3]) if label else ""
        more = "…" if len(rows) > 3 else ""
        return f"{len(rows)} entries" + (f": {names}{more}" if names else "")
    return ""


def merge_records(found: list[Section], ctx: TaskContext) -> list[Section]:
    """Runs of two or more results that are each one record with the same fields, merged into
    one table section (the first column their titles, unless the records name themselves)."""
    out: list[Section] = []
    run: list[tuple[Section, dict[str, Any]]] = []

    def flush() -> None:
        if len(run) >= 2:
            out.append(_merged(run))
        else:
            out.extend(s for s, _ in run)
        run.clear()

    for section in found:
        value = parse(ctx.inputs.get(section.id, ""))
        flat = isinstance(value, dict) and bool(value) and not section.pictures
        if (
            flat
            and isinstance(value, dict)
            and all(not isinstance(v, dict | list) for v in value.values())
        ):
            if run and list(run[0][1]) != list(value):
                flush()
            run.append((section, value))
            continue
        flush()
        out.append(section)
    flush()
    return out


def _merged(run: list[tuple[Section, dict[str, Any]]]) -> Section:
    ids = tuple(s.id for s, _ in run)
    prefix = _common_prefix(ids)
    key = prefix.lower() if prefix and prefix.lower() not in run[0][1] else "item"
    rows = tuple({key: s.title, **v} for s, v in run)  # the plan's titles lead each row
    title = f"{humanise(prefix)} overview" if prefix else "Overview"
    short = tuple({k: v for k, v in r.items() if not _long(v)} for r in rows)
    text = table(list(short))
    for section, value in run:
        notes = [str(v).strip() for v in value.values() if _long(v)]
        if notes:
            text += f"\n\n**{cell(section.title)}**: " + " ".join(notes)
    labels = tuple(s.title for s, _ in run)
    summary = summary_of(list(short), text)
    return Section(ids[0], title, text, short, ids=ids, labels=labels, summary=summary)


def _common_prefix(ids: tuple[str, ...]) -> str:
    """The shared leading word of ids like ``company.a``, ``company.b`` (empty if none)."""
    heads = {re.split(r"[.:/]", i, maxsplit=1)[0] for i in ids}
    return heads.pop() if len(heads) == 1 and all(re.search(r"[.:/]", i) for i in ids) else ""


def urls(texts: list[str]) -> list[str]:
    """Web addresses cited in the texts, first appearance first (for a sources list)."""
    found: dict[str, None] = {}
    for text in texts:
        found.update(dict.fromkeys(u.rstrip(".,;:") for u in _URL.findall(text)))
    return list(found)

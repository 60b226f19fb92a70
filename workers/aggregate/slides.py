"""The ``slides`` kind: a PPTX deck (python-pptx) — a title slide, one content slide of bullets
per upstream result with the full text in its speaker notes, and a table and a native bar chart
where a result is a list of records with numbers.

Config: ``title``, ``subtitle``, ``filename``, ``titles`` (a slide title per dependency),
``max_bullets`` (per slide, 6 by default), ``charts`` (``true`` by default).
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION
from pptx.presentation import Presentation as Deck
from pptx.util import Inches, Pt

from swarm.errors import Problem
from swarm.plan import TaskSpec
from workers.aggregate import common, markup, sources
from workers.aggregate.columns import as_number
from workers.aggregate.config_rules import positive_int
from workers.aggregate.files import FIXED_TIME, stable_zip, write_artifact
from workers.base import TaskContext

MAX_BULLET_CHARS = 180
MAX_TABLE_ROWS, MAX_TABLE_COLS, MAX_CHART_POINTS = 12, 6, 30
LAYOUT_TITLE, LAYOUT_CONTENT, LAYOUT_TITLE_ONLY = 0, 1, 5


class SlidesWorker:
    kind: ClassVar[str] = "slides"
    description: ClassVar[str] = (
        "a PPTX deck from dependencies' results: title slide, bullet slides with speaker "
        "notes, tables and bar charts for tabular JSON"
    )
    default_steps: ClassVar[int] = 1

    def check(self, spec: TaskSpec) -> list[Problem]:
        where, cfg = f"task {spec.id!r}", spec.config
        problems = common.common_problems(spec, {"subtitle", "max_bullets", "charts"})
        if not isinstance(cfg.get("subtitle", ""), str):
            problems.append(Problem(where, "config.subtitle", "must be a string"))
        problems += positive_int(spec, "max_bullets", 1, 20)
        if not isinstance(cfg.get("charts", True), bool):
            problems.append(Problem(where, "config.charts", "must be true or false"))
        return problems

    async def run(self, ctx: TaskContext) -> str:
        spec = ctx.spec
        found = sources.sections(ctx, common.titles_of(spec))
        subtitle = str(spec.config.get("subtitle") or f"From {len(found)} results")
        data = render_pptx(
            common.title_of(spec),
            subtitle,
            found,
            max_bullets=int(spec.config.get("max_bullets", 6)),
            charts=bool(spec.config.get("charts", True)),
        )
        path = write_artifact(ctx, "slides", f"{common.stem_of(spec)}.pptx", data)
        return common.summary(self.kind, [path])


def render_pptx(
    title: str, subtitle: str, found: list[sources.Section], *, max_bullets: int, charts: bool
) -> bytes:
    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    props = deck.core_properties
    props.title, props.author, props.last_modified_by = title, "swarm", "swarm"
    props.created = props.modified = props.last_printed = FIXED_TIME
    props.revision = 1
    first = deck.slides.add_slide(deck.slide_layouts[LAYOUT_TITLE])
    first.shapes.title.text = title
    for shape in first.placeholders:
        shape.left, shape.width = Inches(0.9), Inches(11.5)
    first.placeholders[1].text = subtitle
    for section in found:
        _bullets(deck, section, max_bullets)
        if section.rows:
            _table(deck, section)
            chart = chart_data(section.rows) if charts else None
            if chart is not None:
                _chart(deck, section, *chart)
    out = io.BytesIO()
    deck.save(out)
    return stable_zip(out.getvalue())


def _title(slide: Any, text: str) -> None:
    title = slide.shapes.title
    title.text = text
    title.left, title.top, title.width, title.height = (
        Inches(0.6),
        Inches(0.4),
        Inches(12.1),
        Inches(1),
    )


def bullets(text: str) -> list[tuple[int, str]]:
    """(level, text) bullets from Markdown: list items keep their depth, paragraphs are one
    bullet each, tables and code are left to the notes."""
    out = []
    for block in markup.blocks(text):
        if block.kind in ("item", "paragraph", "heading"):
            line = " ".join(block.plain.split())
            if len(line) > MAX_BULLET_CHARS:
                line = line[: MAX_BULLET_CHARS - 1].rstrip() + "…"
            out.append((min(block.level, 4) if block.kind == "item" else 0, line))
    return out


def _bullets(deck: Deck, section: sources.Section, max_bullets: int) -> None:
    slide = deck.slides.add_slide(deck.slide_layouts[LAYOUT_CONTENT])
    _title(slide, section.title)
    body = slide.placeholders[1]
    body.left, body.top, body.width, body.height = Inches(0.7), Inches(1.6), Inches(12), Inches(5.4)
    points = bullets(section.markdown) or [(0, f"{len(section.rows)} records (table follows)")]
    frame = body.text_frame
    for i, (level, line) in enumerate(points[:max_bullets]):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        para.text, para.level = line, level
        para.font.size = Pt(20 if level == 0 else 16)
    notes = slide.notes_slide.notes_text_frame
    notes.text = markup_plain(section.markdown)


def markup_plain(text: str) -> str:
    """Speaker notes: the section's full text, without Markdown syntax."""
    lines = []
    for block in markup.blocks(text):
        if block.kind == "table":
            lines += [" | ".join(row) for row in block.rows]
        else:
            lines.append(("  " * block.level + "- " if block.kind == "item" else "") + block.plain)
    return "\n".join(lines)


def _table(deck: Deck, section: sources.Section) -> None:
    slide = deck.slides.add_slide(deck.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, f"{section.title}: table")
    cols = sources.columns_of(list(section.rows))[:MAX_TABLE_COLS]
    rows = section.rows[:MAX_TABLE_ROWS]
    shape = slide.shapes.add_table(
        len(rows) + 1, len(cols), Inches(0.6), Inches(1.6), Inches(12.1), Inches(0.4)
    )
    grid = shape.table
    for c, name in enumerate(cols):
        grid.cell(0, c).text = name
        for r, row in enumerate(rows, start=1):
            grid.cell(r, c).text = sources.cell(row.get(name)).replace("\\|", "|")
    for r in range(len(rows) + 1):
        for c in range(len(cols)):
            for para in grid.cell(r, c).text_frame.paragraphs:
                para.font.size = Pt(12)
    if len(section.rows) > len(rows):
        slide.notes_slide.notes_text_frame.text = (
            f"{len(section.rows)} records; the first {len(rows)} are shown."
        )


def chart_data(rows: tuple[dict[str, Any], ...]) -> tuple[str, list[str], list[float]] | None:
    """(value column, labels, values) when the records have a text label and a numeric column
    worth a bar chart (2 to 30 points), else None."""
    if not 2 <= len(rows) <= MAX_CHART_POINTS:
        return None
    cols = sources.columns_of(list(rows))
    label = next((c for c in cols if all(isinstance(r.get(c), str) for r in rows)), None)
    for col in cols:
        values = [r.get(col) for r in rows]
        if col == label or any(isinstance(v, bool) or v is None for v in values):
            continue
        try:
            numbers = [float(as_number(v)) for v in values]
        except ValueError:
            continue
        if label is not None:
            return col, [str(r[label]) for r in rows], numbers
    return None


def _chart(
    deck: Deck, section: sources.Section, column: str, labels: list[str], values: list[float]
) -> None:
    slide = deck.slides.add_slide(deck.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, f"{section.title}: {column}")
    data = CategoryChartData()  # type: ignore[no-untyped-call]
    data.categories = labels
    data.add_series(column, values)  # type: ignore[no-untyped-call]
    frame = slide.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(0.8), Inches(1.5), Inches(11.7), Inches(5.6), data
    )
    chart = frame.chart
    chart.has_legend = True
    chart.legend.position = XL_LEGEND_POSITION.BOTTOM
    chart.legend.include_in_layout = False

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
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION
from pptx.enum.text import PP_ALIGN
from pptx.presentation import Presentation as Deck
from pptx.util import Emu, Inches, Length, Pt

from swarm.errors import Problem
from swarm.plan import TaskSpec
from workers.aggregate import common, markup, sources
from workers.aggregate.columns import as_number
from workers.aggregate.files import FIXED_TIME, stable_zip
from workers.aggregate.images import raster
from workers.base import TaskContext
from workers.rules import slides as rules

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
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        spec = ctx.spec
        found = sources.sections(ctx, common.titles_of(spec))
        subtitle = str(spec.config.get("subtitle") or f"From {len(found)} results")
        data = await common.off_loop(
            render_pptx,
            common.title_of(spec),
            subtitle,
            found,
            max_bullets=int(spec.config.get("max_bullets", 6)),
            charts=bool(spec.config.get("charts", True)),
            label=common.SIMULATED if common.simulated(ctx) else None,
        )
        path = await common.write(ctx, "slides", f"{common.stem_of(spec)}.pptx", data)
        return common.summary(self.kind, [path])


def render_pptx(
    title: str,
    subtitle: str,
    found: list[sources.Section],
    *,
    max_bullets: int,
    charts: bool,
    label: str | None = None,
) -> bytes:
    """The deck. ``label`` (a simulated run's notice) goes on every slide's foot and into the
    document properties."""
    deck = Presentation()
    _widen(deck, Inches(13.333))
    props = deck.core_properties
    props.title, props.author, props.last_modified_by = title, "swarm", "swarm"
    props.created = props.modified = props.last_printed = FIXED_TIME
    props.revision = 1
    if label:
        props.subject, props.keywords, props.comments = label, "simulated", label
    first = deck.slides.add_slide(deck.slide_layouts[LAYOUT_TITLE])
    first.shapes.title.text = title
    first.placeholders[1].text = subtitle
    for section in found:
        if section.pictures:
            _pictures(deck, section)
            continue
        _bullets(deck, section, max_bullets)
        if section.rows:
            _table(deck, section)
            chart = chart_data(section.rows) if charts else None
            if chart is not None:
                _chart(deck, section, *chart)
    if label:
        for slide in deck.slides:
            _foot(slide, label)
    out = io.BytesIO()
    deck.save(out)
    return stable_zip(out.getvalue())


def _widen(deck: Deck, width: Length) -> None:
    """Make the 4:3 template 16:9: the slide and every master and layout placeholder with a
    frame of its own grow sideways, so slides inherit sound geometry from their layouts and no
    slide writes a frame of its own for a placeholder (a partial one is a zero-size frame)."""
    ratio = width / int(deck.slide_width or width)
    deck.slide_width = width
    # python-pptx's stubs do not type its placeholder collections' iterators
    master: Any = deck.slide_master
    layouts: list[Any] = list(deck.slide_layouts)
    shapes = [*master.placeholders, *(p for lay in layouts for p in lay.placeholders)]
    for shape in shapes:
        if shape._element.spPr.xfrm is not None:
            left, wide = int(shape.left or 0), int(shape.width or 0)
            shape.left, shape.width = Emu(round(left * ratio)), Emu(round(wide * ratio))


def _foot(slide: Any, label: str) -> None:
    box = slide.shapes.add_textbox(Inches(0.5), Inches(7.02), Inches(12.3), Inches(0.4))
    box.name = "Simulated notice"
    para = box.text_frame.paragraphs[0]
    para.text = label
    para.font.size, para.font.bold = Pt(11), True
    para.font.color.rgb = RGBColor(0xB0, 0x3A, 0x2E)  # type: ignore[no-untyped-call]


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
    """A slide of the section's bullets with its full text in the notes; none for a section of
    records alone (its table slide carries the notes)."""
    points = bullets(section.markdown)
    if not points and section.rows:
        return
    slide = deck.slides.add_slide(deck.slide_layouts[LAYOUT_CONTENT])
    slide.shapes.title.text = section.title
    frame = slide.placeholders[1].text_frame
    for i, (level, line) in enumerate((points or [(0, "(no result)")])[:max_bullets]):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        para.text, para.level = line, level
        para.font.size = Pt(20 if level == 0 else 16)
    slide.notes_slide.notes_text_frame.text = markup_plain(section.markdown)


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
    slide.shapes.title.text = f"{section.title}: table"
    cols = sources.columns_of(list(section.rows))[:MAX_TABLE_COLS]
    rows = section.rows[:MAX_TABLE_ROWS]
    shape = slide.shapes.add_table(
        len(rows) + 1, len(cols), Inches(0.6), Inches(1.6), Inches(12.1), Inches(0.4)
    )
    grid = shape.table
    for c, name in enumerate(cols):
        grid.cell(0, c).text = sources.header(name)
        numeric = all(_is_number(row.get(name)) for row in rows)
        for r, row in enumerate(rows, start=1):
            grid.cell(r, c).text = sources.cell(row.get(name)).replace("\\|", "|")
            if numeric:
                grid.cell(r, c).text_frame.paragraphs[0].alignment = PP_ALIGN.RIGHT
    for r in range(len(rows) + 1):
        for c in range(len(cols)):
            for para in grid.cell(r, c).text_frame.paragraphs:
                para.font.size = Pt(12)
    notes = markup_plain(section.markdown)
    if len(section.rows) > len(rows):
        notes = f"{len(section.rows)} records; the first {len(rows)} are shown.\n\n{notes}"
    slide.notes_slide.notes_text_frame.text = notes


def _is_number(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return value is None
    try:
        as_number(value)
    except ValueError:
        return False
    return True


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
    slide.shapes.title.text = f"{section.title}: {sources.header(column)}"
    data = CategoryChartData()  # type: ignore[no-untyped-call]
    data.categories = labels
    data.add_series(sources.header(column), values)  # type: ignore[no-untyped-call]
    frame = slide.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(0.8), Inches(1.5), Inches(11.7), Inches(5.6), data
    )
    chart = frame.chart
    chart.has_legend = True
    chart.legend.position = XL_LEGEND_POSITION.BOTTOM
    chart.legend.include_in_layout = False


def _pictures(deck: Deck, section: sources.Section) -> None:
    """A slide per image, fitted into the area under the title, its alt text kept."""
    for n, picture in enumerate(section.pictures, start=1):
        slide = deck.slides.add_slide(deck.slide_layouts[LAYOUT_TITLE_ONLY])
        many = len(section.pictures) > 1
        slide.shapes.title.text = f"{section.title} ({n})" if many else section.title
        box_w, box_h = Inches(12.1), Inches(5.2)
        width, height = picture.width or 1, picture.height or 1
        scale = min(box_w / width, box_h / height)
        w, h = int(width * scale), int(height * scale)
        left, top = Inches(0.6) + (box_w - w) // 2, Inches(1.6) + (box_h - h) // 2
        shape = slide.shapes.add_picture(io.BytesIO(raster(picture)), left, top, w, h)
        shape._element.nvPicPr.cNvPr.set("descr", picture.alt)
        slide.notes_slide.notes_text_frame.text = picture.alt

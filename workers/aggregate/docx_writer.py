"""Markdown blocks as a DOCX document (python-docx): real headings, lists, tables, code and
clickable links, with fixed core properties so the same inputs give the same bytes."""

from __future__ import annotations

import io
import re

import docx
from docx.document import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Inches, Length, Pt, RGBColor
from docx.text.paragraph import Paragraph

from workers.aggregate.files import FIXED_TIME, stable_zip
from workers.aggregate.images import Picture, raster
from workers.aggregate.markup import Block, Run

LIST_STYLES = {False: "List Bullet", True: "List Number"}
_NUMBER = re.compile(r"^[-+−]?[$€£]?\d[\d,._ ]*(\.\d+)?\s?(%|[kKmMbB]|USD|EUR)?$")
MIN_SHARE = 0.06
"""No column narrower than this share of the text width (a header stays readable)."""
TEXT_WIDTH = Inches(6.5)
"""Letter or A4 with python-docx's default one-inch margins."""


def render_docx(title: str, blocks: list[Block | Picture], *, label: str | None = None) -> bytes:
    """The document. ``label`` (a simulated run's notice) goes in every page's header and in
    the document properties."""
    document = docx.Document()
    props = document.core_properties
    props.title, props.author, props.last_modified_by = title, "swarm", "swarm"
    props.created = props.modified = props.last_printed = FIXED_TIME
    props.revision = 1
    if label:
        props.subject, props.keywords, props.comments = label, "simulated", label
        head = document.sections[0].header.paragraphs[0]
        run = head.add_run(label)
        run.bold, run.font.size = True, Pt(9)
        run.font.color.rgb = RGBColor(0xB0, 0x3A, 0x2E)
    for block in blocks:
        if isinstance(block, Picture):
            _picture(document, block)
        else:
            _block(document, block)
    out = io.BytesIO()
    document.save(out)
    return stable_zip(out.getvalue())


def _block(document: Document, block: Block) -> None:
    if block.kind == "heading":
        _runs(document.add_heading("", level=min(block.level, 9)), block.runs)
    elif block.kind == "item":
        style = LIST_STYLES[block.ordered] + (f" {block.level + 1}" if block.level else "")
        if block.level > 2:
            style = LIST_STYLES[block.ordered] + " 3"
        _runs(document.add_paragraph(style=style), block.runs)
    elif block.kind == "code":
        para = document.add_paragraph()
        for i, line in enumerate(block.text.split("\n")):
            run = para.add_run()
            if i:
                run.add_break(WD_BREAK.LINE)
            run.add_text(line)
            run.font.name, run.font.size = "Courier New", Pt(9)
    elif block.kind == "table" and block.rows:
        _table(document, block.rows)
    else:
        _runs(document.add_paragraph(), block.runs)


def _table(document: Document, rows: tuple[tuple[str, ...], ...]) -> None:
    """A table whose columns are as wide as their content asks (dates and headers do not wrap
    while a long text column takes the rest), numbers right-aligned."""
    width = max(len(r) for r in rows)
    grid = [[row[c] if c < len(row) else "" for c in range(width)] for row in rows]
    table = document.add_table(rows=len(rows), cols=width)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    table.autofit = False
    widths = column_widths(grid)
    numeric = [is_numeric([row[c] for row in grid[1:]]) for c in range(width)]
    for r, row in enumerate(grid):
        for c, text in enumerate(row):
            cell = table.cell(r, c)
            cell.text, cell.width = text, widths[c]
            para = cell.paragraphs[0]
            if numeric[c]:
                para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            if r == 0:
                for run in para.runs:
                    run.bold = True
    for c, column in enumerate(table.columns):
        column.width = widths[c]


def column_widths(grid: list[list[str]]) -> list[Emu]:
    """Each column's share of the text width: its longest word or short value, so a date or a
    header does not wrap, and what is left shared by the columns with long text."""
    count = len(grid[0])
    need = []
    for c in range(count):
        cells = [row[c] for row in grid]
        longest_word = max((len(w) for t in cells for w in t.split()), default=1)
        short = max((len(t) for t in cells if len(t) <= 24), default=0)
        need.append(max(longest_word, short, 3) + 2)
    shares = [max(n / sum(need), MIN_SHARE) for n in need]
    total = sum(shares)
    return [Emu(int(TEXT_WIDTH * s / total)) for s in shares]


def is_numeric(cells: list[str]) -> bool:
    values = [t.strip() for t in cells if t.strip()]
    return bool(values) and all(_NUMBER.match(v) for v in values)


def _picture(document: Document, picture: Picture) -> None:
    """An image at most the text width wide (and 4 inches tall), its alt text kept as the
    picture's description and shown as a caption."""
    width: Length = TEXT_WIDTH
    if picture.width and picture.height:
        width = min(TEXT_WIDTH, Emu(int(Inches(4) * picture.width / picture.height)))
    shape = document.add_picture(io.BytesIO(raster(picture)), width=width)
    shape._inline.docPr.set("descr", picture.alt)
    caption = document.add_paragraph(picture.alt)
    caption.runs[0].italic = True


def _runs(paragraph: Paragraph, runs: tuple[Run, ...]) -> None:
    for item in runs:
        if item.href:
            _hyperlink(paragraph, item)
            continue
        run = paragraph.add_run(item.text)
        run.bold, run.italic = item.bold or None, item.italic or None
        if item.code:
            run.font.name = "Courier New"


def _hyperlink(paragraph: Paragraph, item: Run) -> None:
    """A clickable external link (python-docx has no API for writing one)."""
    assert item.href is not None
    rel = paragraph.part.relate_to(item.href, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel)
    run = paragraph.add_run(item.text)
    run.bold, run.italic = item.bold or None, item.italic or None
    run.font.underline = True
    run.font.color.rgb = RGBColor(0x24, 0x57, 0xC5)
    run._r.addprevious(link)
    link.append(run._r)

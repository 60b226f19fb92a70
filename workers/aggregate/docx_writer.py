"""Markdown blocks as a DOCX document (python-docx): real headings, lists, tables, code and
clickable links, with fixed core properties so the same inputs give the same bytes."""

from __future__ import annotations

import io

import docx
from docx.document import Document
from docx.enum.text import WD_BREAK
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from docx.text.paragraph import Paragraph

from workers.aggregate.files import FIXED_TIME, stable_zip
from workers.aggregate.markup import Block, Run

LIST_STYLES = {False: "List Bullet", True: "List Number"}


def render_docx(title: str, blocks: list[Block]) -> bytes:
    document = docx.Document()
    props = document.core_properties
    props.title, props.author, props.last_modified_by = title, "swarm", "swarm"
    props.created = props.modified = props.last_printed = FIXED_TIME
    props.revision = 1
    for block in blocks:
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
    width = max(len(r) for r in rows)
    table = document.add_table(rows=len(rows), cols=width)
    table.style = "Table Grid"
    for r, row in enumerate(rows):
        for c in range(width):
            cell = table.cell(r, c)
            cell.text = row[c] if c < len(row) else ""
            if r == 0:
                for run in cell.paragraphs[0].runs:
                    run.bold = True


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

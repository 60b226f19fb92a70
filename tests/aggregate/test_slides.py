"""The ``slides`` kind: a PPTX deck reopened with python-pptx — title, bullets, notes, table,
chart — and identical bytes for identical inputs."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.enum.text import PP_ALIGN
from pptx.util import Inches

from tests.aggregate.conftest import context, problems, run
from tests.fakes import ScriptedProvider

FINDINGS = "- installs grew 30%\n- prices fell\n  - mostly in the north\n\nMore detail <b>here</b>."
RECORDS = json.dumps([{"company": "Acme", "revenue": 12.5}, {"company": "Globex", "revenue": 7},
                      {"company": "Initech", "revenue": "3.25"}])  # fmt: skip


def test_a_deck_with_title_bullets_notes_table_and_chart(tmp_path: Path) -> None:
    config = {"title": "Market", "subtitle": "Q3", "titles": {"firms": "Companies"}}
    ctx = context(tmp_path, "slides", {"findings": FINDINGS, "firms": RECORDS}, config)
    assert json.loads(run(ctx))["artifacts"] == ["agg/agg.pptx"]
    deck = Presentation(str(tmp_path / "agg/agg.pptx"))
    slides = list(deck.slides)
    assert [s.shapes.title.text for s in slides] == [
        "Market",
        "Findings",
        "Companies: table",
        "Companies: Revenue",
    ]  # fmt: skip  (no padding slide before a table of records)
    assert slides[0].placeholders[1].text.splitlines()[0] == "Q3"
    body = slides[1].placeholders[1].text_frame.paragraphs
    assert [(p.text, p.level) for p in body] == [
        ("installs grew 30%", 0), ("prices fell", 0), ("mostly in the north", 1),
        ("More detail <b>here</b>.", 0),
    ]  # fmt: skip
    assert "- installs grew 30%" in slides[1].notes_slide.notes_text_frame.text
    (table,) = [s for s in slides[2].shapes if s.shape_type == MSO_SHAPE_TYPE.TABLE]
    cells = [[c.text for c in row.cells] for row in table.table.rows]
    assert cells[0] == ["Company", "Revenue"] and cells[3] == ["Initech", "3.25"]
    revenue = table.table.cell(1, 1).text_frame.paragraphs[0].alignment
    assert revenue == PP_ALIGN.RIGHT and "Initech" in slides[2].notes_slide.notes_text_frame.text
    (chart,) = [s.chart for s in slides[3].shapes if s.has_chart]
    (plot,) = chart.plots
    assert list(plot.categories) == ["Acme", "Globex", "Initech"]
    assert list(plot.series[0].values) == [12.5, 7.0, 3.25]
    assert deck.core_properties.title == "Market" and deck.core_properties.created.year == 2000


def test_no_chart_without_numbers_and_charts_can_be_off(tmp_path: Path) -> None:
    words = json.dumps([{"a": "x", "b": "y"}, {"a": "z", "b": "w"}])
    ctx = context(tmp_path / "1", "slides", {"t": words})
    run(ctx)
    deck = Presentation(str(tmp_path / "1/agg/agg.pptx"))
    assert not any(s.has_chart for slide in deck.slides for s in slide.shapes)
    ctx = context(tmp_path / "2", "slides", {"t": RECORDS}, {"charts": False, "max_bullets": 2})
    run(ctx)
    deck = Presentation(str(tmp_path / "2/agg/agg.pptx"))
    assert len(deck.slides) == 2  # title, table


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    digests = set()
    for n in range(2):
        ctx = context(tmp_path / str(n), "slides", {"findings": FINDINGS, "firms": RECORDS})
        run(ctx)
        digests.add(ctx.artifacts[0].sha256)
    assert len(digests) == 1  # the chart's embedded workbook included


def test_config_problems() -> None:
    assert problems("slides", {"title": "T"}) == []
    found = problems("slides", {"max_bullets": 0, "charts": "yes", "subtitle": 3, "filename": "/x"})
    assert {p.split(":")[0] for p in found} == {
        "task 'agg'.config.max_bullets", "task 'agg'.config.charts",
        "task 'agg'.config.subtitle", "task 'agg'.config.filename",
    }  # fmt: skip


def test_placeholders_inherit_their_layouts_geometry(tmp_path: Path) -> None:
    """Every slide's title and body keep a real frame (no zero-height frame written on top of
    the layout's), and the title slide's title sits above its subtitle, inside the slide."""
    ctx = context(tmp_path, "slides", {"findings": FINDINGS, "firms": RECORDS}, {"title": "M"})
    run(ctx)
    path = tmp_path / "agg/agg.pptx"
    with zipfile.ZipFile(path) as package:
        for name in package.namelist():
            if name.startswith("ppt/slides/slide"):
                xml = package.read(name).decode()
                assert not re.search(r'<a:ext c[xy]="0"', xml), name
    deck = Presentation(str(path))
    title, subtitle = deck.slides[0].placeholders[0], deck.slides[0].placeholders[1]
    for shape in (title, subtitle):
        assert shape._element.spPr.xfrm is None  # inherited from the layout
        assert shape.top > 0 and shape.height > Inches(0.5)
        assert shape.left >= 0 and shape.left + shape.width <= deck.slide_width
    assert title.top + title.height <= subtitle.top
    body = deck.slides[1].placeholders[1]
    assert body.width > Inches(11) and body.top + body.height <= deck.slide_height


def test_a_simulated_deck_says_so_on_every_slide(tmp_path: Path) -> None:
    ctx = context(tmp_path / "sim", "slides", {"findings": FINDINGS})
    run(ctx)
    deck = Presentation(str(tmp_path / "sim/agg/agg.pptx"))
    for slide in deck.slides:
        (note,) = [s for s in slide.shapes if s.name == "Simulated notice"]
        assert note.text_frame.text.startswith("Simulated:")
    assert deck.core_properties.keywords == "simulated"
    real = context(tmp_path / "real", "slides", {"findings": FINDINGS},
                   provider=ScriptedProvider(simulated=False))  # fmt: skip
    run(real)
    deck = Presentation(str(tmp_path / "real/agg/agg.pptx"))
    assert not any(s.name == "Simulated notice" for sl in deck.slides for s in sl.shapes)
    assert "Simulated" not in deck.slides[0].placeholders[1].text

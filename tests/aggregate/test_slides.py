"""The ``slides`` kind: a PPTX deck reopened with python-pptx — title, bullets, notes, table,
chart — and identical bytes for identical inputs."""

from __future__ import annotations

import json
from pathlib import Path

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from tests.aggregate.conftest import context, problems, run

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
        "Market", "Findings", "Companies", "Companies: table", "Companies: revenue",
    ]  # fmt: skip
    assert slides[0].placeholders[1].text == "Q3"
    body = slides[1].placeholders[1].text_frame.paragraphs
    assert [(p.text, p.level) for p in body] == [
        ("installs grew 30%", 0), ("prices fell", 0), ("mostly in the north", 1),
        ("More detail <b>here</b>.", 0),
    ]  # fmt: skip
    assert "- installs grew 30%" in slides[1].notes_slide.notes_text_frame.text
    (table,) = [s for s in slides[3].shapes if s.shape_type == MSO_SHAPE_TYPE.TABLE]
    cells = [[c.text for c in row.cells] for row in table.table.rows]
    assert cells[0] == ["company", "revenue"] and cells[3] == ["Initech", "3.25"]
    (chart,) = [s.chart for s in slides[4].shapes if s.has_chart]
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
    assert len(deck.slides) == 3  # title, bullets, table


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

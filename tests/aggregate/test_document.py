"""The ``document`` kind: Markdown, standalone HTML and DOCX, reopened with python-docx."""

from __future__ import annotations

import json
from pathlib import Path

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from markdown_it import MarkdownIt

from swarm.providers.base import ModelRequest
from tests.aggregate.conftest import context, problems, run, unlabelled
from tests.fakes import ScriptedProvider

NOTES = """Findings on **heat pumps** from [the survey](https://example.org/survey).

- installs grew
- prices fell
  - in the north

```python
print("hi")
```

<script>alert(1)</script>
"""
TABLE = json.dumps([{"company": "Acme", "revenue": 12.5}, {"company": "Globex", "revenue": 7}])


def test_markdown_html_and_docx_from_upstream_results(tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        "document",
        {"notes": NOTES, "table": TABLE},
        {"title": "Market report", "filename": "report.docx", "titles": {"notes": "Notes"}},
    )
    summary = json.loads(run(ctx))
    assert summary["artifacts"] == ["agg/report.md", "agg/report.html", "agg/report.docx"]
    assert [a.path for a in ctx.artifacts] == summary["artifacts"]
    md = (tmp_path / "agg/report.md").read_text()
    assert md.startswith("# Market report\n") and "## Notes" in md and "| Acme | 12.5 |" in md
    assert "\\<script>alert(1)\\</script>" in md  # shown, never run, wherever it is rendered
    raw = MarkdownIt("commonmark").parse(md)  # html on, as MkDocs, Jekyll or Hugo render it
    inline = [c for t in raw for c in t.children or []]
    assert not [t for t in raw + inline if t.type.startswith("html")]
    html = (tmp_path / "agg/report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "default-src 'none'" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert '<a href="https://example.org/survey">' in html and "<table>" in html

    document = docx.Document(str(tmp_path / "agg/report.docx"))
    paragraphs = [(p.style.name, p.text) for p in document.paragraphs]
    assert paragraphs[0] == ("Heading 1", "Market report")
    assert ("Heading 2", "Notes") in paragraphs and ("Heading 2", "Sources") in paragraphs
    assert ("List Bullet", "installs grew") in paragraphs
    assert ("List Bullet 2", "in the north") in paragraphs
    assert any(text == 'print("hi")' for _, text in paragraphs)
    assert any("<script>alert(1)</script>" in text for _, text in paragraphs)  # inert text
    (table,) = document.tables
    assert [[c.text for c in row.cells] for row in table.rows] == [
        ["Company", "Revenue"],
        ["Acme", "12.5"],
        ["Globex", "7"],
    ]
    aligned = [row.cells[1].paragraphs[0].alignment for row in table.rows][1:]
    assert aligned == [WD_ALIGN_PARAGRAPH.RIGHT] * 2  # numbers right-aligned
    assert table.rows[1].cells[0].paragraphs[0].alignment is None
    links = document.element.body.findall(".//" + qn("w:hyperlink"))
    targets = {document.part.rels[link.get(qn("r:id"))].target_ref for link in links}
    assert "https://example.org/survey" in targets
    assert document.core_properties.title == "Market report"
    assert document.core_properties.created.year == 2000


def test_an_outline_is_written_by_one_model_pass(tmp_path: Path) -> None:
    async def answer(request: ModelRequest) -> str:
        assert request.json_schema is not None
        assert request.json_schema["required"] == ["section_1", "section_2"]
        assert "Intro" in request.prompt and NOTES.splitlines()[0] in request.prompt
        return json.dumps({"section_1": "The intro.", "section_2": "- a\n- b"})

    provider = ScriptedProvider(answer)
    ctx = context(
        tmp_path,
        "document",
        {"notes": NOTES},
        {"outline": ["Intro", "Outlook"], "formats": ["md"]},
        prompt="Write for investors.",
        provider=provider,
    )
    assert json.loads(run(ctx))["artifacts"] == ["agg/agg.md"]
    md = (tmp_path / "agg/agg.md").read_text()
    assert "## Intro\n\nThe intro.\n\n## Outlook\n\n- a\n- b" in md
    assert len(provider.calls) == 1 and len(ctx.steps) == 1


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    digests = []
    for n in range(2):
        ctx = context(tmp_path / str(n), "document", {"notes": NOTES, "table": TABLE})
        run(ctx)
        digests.append([(a.path, a.sha256) for a in ctx.artifacts])
    assert digests[0] == digests[1]


def test_config_problems_name_the_key() -> None:
    assert problems("document", {}) == []
    found = problems(
        "document",
        {
            "filename": "../x",
            "formats": ["pdf"],
            "outline": "no",
            "colour": 1,
            "titles": {"z": "Z"},
        },
    )
    assert any("config.filename" in p and "'..'" in p for p in found)
    assert any("config.formats" in p for p in found)
    assert any("config.outline" in p for p in found)
    assert any("unknown keys" in p and "colour" in p for p in found)
    assert any("config.titles" in p and "'z'" in p for p in found)
    assert any("absolute" in p for p in problems("document", {"filename": "/etc/x"}))
    assert any("needs results" in p for p in problems("document", {}, deps=()))


def test_records_keep_their_order_and_uniform_ones_become_one_table(tmp_path: Path) -> None:
    firm = {"name": "Acme", "segment": "hybrid", "founded": 1981, "revenue_musd": 12.5,
            "summary": "A long description of the company that goes on for more than eighty "
                       "characters, so it is a paragraph."}  # fmt: skip
    other = {**firm, "name": "Globex", "founded": 2001}
    inputs = {"co.acme": json.dumps(firm), "co.globex": json.dumps(other), "notes": "Text."}
    ctx = context(tmp_path, "document", inputs, {"formats": ["md", "docx"]},
                  task_id="market_brief", provider=unlabelled())  # fmt: skip
    ctx.dep_titles.update({"co.acme": "Acme Inc", "notes": "Analyst notes"})
    run(ctx)
    md = (tmp_path / "market_brief/market_brief.md").read_text()
    assert md.startswith("# Market brief\n")  # not the raw id
    assert "## Co overview\n\n| Co | Name | Segment | Founded | Revenue (M USD) |" in md
    assert "| Acme Inc | Acme | hybrid | 1981 | 12.5 |\n| Co globex | Globex | hybrid | 2001" in md
    assert "- Acme Inc (task `co.acme`)\n- Co globex (task `co.globex`)" in md
    assert "**Acme Inc**: A long description" in md and "## Analyst notes" in md
    assert "Simulated" not in md
    document = docx.Document(str(tmp_path / "market_brief/market_brief.docx"))
    widths = [c.width for c in document.tables[0].columns]
    assert len(set(widths)) > 1 and widths[4] > widths[3]  # the long header gets its room


def test_a_simulated_document_says_so_in_every_format(tmp_path: Path) -> None:
    ctx = context(tmp_path, "document", {"notes": NOTES}, {"title": "R"})
    run(ctx)
    md = (tmp_path / "agg/agg.md").read_text()
    assert md.splitlines()[2].startswith("> **Simulated:")
    html = (tmp_path / "agg/agg.html").read_text()
    assert '<p class="notice" role="note">Simulated:' in html
    document = docx.Document(str(tmp_path / "agg/agg.docx"))
    assert document.sections[0].header.paragraphs[0].text.startswith("Simulated:")
    assert document.core_properties.keywords == "simulated"

"""The example plans end to end on a file database with the sim provider: every task succeeds,
every artifact is on disk under the run folder and recorded with its size and sha256, `swarm
artifacts` lists them, and a second run of the same plan writes byte-identical files."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import anyio
import docx
import openpyxl
import pytest
from pptx import Presentation

from swarm.providers.base import ModelRequest, ModelResponse
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.store import Store
from swarm.validation import validate_file
from tests.aggregate.office import read_pdf, to_pdf
from tests.cli.conftest import CliRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KINDS = {
    "market-map": {"sheet", "document", "site"},
    "literature-review": {"document", "slides"},
    "weekly-report": {"sheet", "document", "slides"},
    "landing-page": {"image", "site"},
}


def execute(db: Path, folder: Path, name: str, run_id: str) -> dict[str, object]:
    async def main() -> dict[str, object]:
        store = await Store.open(db)
        try:
            plan = validate_file(EXAMPLES / f"{name}.json")
            options = runs.RunOptions(artifacts_dir=str(folder))
            return await runs.execute(store, plan, SimProvider(), options, run_id=run_id)
        finally:
            await store.close()

    return anyio.run(main)


def recorded(db: Path, run_id: str) -> list[tuple[str, str, str, int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT task_id, kind, path, size, sha256 FROM artifacts WHERE run_id = ?"
            " ORDER BY path",
            (run_id,),
        ).fetchall()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_example_runs_offline_and_records_its_artifacts(
    tmp_path: Path, name: str, cli: CliRunner
) -> None:
    db, folder = tmp_path / "swarm.db", tmp_path / "swarm-runs"
    summary = execute(db, folder, name, "one")
    assert summary["status"] == "succeeded", summary
    rows = recorded(db, "one")
    assert {kind for _, kind, _, _, _ in rows} == KINDS[name]
    for _, _, path, size, sha in rows:
        file = folder / "one" / path
        assert file.resolve().is_relative_to(folder.resolve())
        assert file.stat().st_size == size and hashlib.sha256(file.read_bytes()).hexdigest() == sha
    on_disk = sorted(
        str(p.relative_to(folder / "one"))
        for p in (folder / "one").rglob("*")
        if p.is_file() and "work" not in p.parts
    )
    assert on_disk == [path for _, _, path, _, _ in rows]
    for _, _, path, _, _ in rows:  # every file opens in its reader and says it is simulated
        file = folder / "one" / path
        if path.endswith(".xlsx"):
            book = openpyxl.load_workbook(file)
            assert book.worksheets[0].max_row > 1 and book.properties.keywords == "simulated"
            assert all(ws["A2"].value == "simulated" for ws in book.worksheets)
        elif path.endswith(".csv"):
            assert file.read_text().startswith("provenance,")
        elif path.endswith(".docx"):
            document = docx.Document(str(file))
            assert document.paragraphs[0].style.name == "Heading 1"
            assert document.sections[0].header.paragraphs[0].text.startswith("Simulated:")
        elif path.endswith(".pptx"):
            deck = Presentation(str(file))
            assert len(deck.slides) >= 3 and deck.core_properties.keywords == "simulated"
        elif path.endswith((".md", ".html")):
            assert "Simulated: made by swarm" in file.read_text()
        elif path.endswith(".png"):
            assert b"simulated placeholder" in file.read_bytes()

    listed = cli("artifacts", "one", "--db", db, "--json")
    assert listed.code == 0
    assert sorted(a["path"] for a in json.loads(listed.out)["artifacts"]) == on_disk

    again = execute(db, folder, name, "two")
    assert again["status"] == "succeeded"
    first = [(p, sha) for _, _, p, _, sha in rows]
    assert [(p, sha) for _, _, p, _, sha in recorded(db, "two")] == first  # same bytes


def test_the_weekly_workbook_has_typed_dates_and_a_model_extracted_sheet(tmp_path: Path) -> None:
    db, folder = tmp_path / "swarm.db", tmp_path / "swarm-runs"
    assert execute(db, folder, "weekly-report", "w")["status"] == "succeeded"
    book = openpyxl.load_workbook(folder / "w/workbook/weekly-report.xlsx")
    assert book.sheetnames == ["Daily (simulated)", "Actions (simulated)"]
    daily = book["Daily (simulated)"]
    assert [c.value for c in daily[1]] == [
        "provenance", "day", "region", "runs", "success_rate", "cost_usd", "incident",
    ]  # fmt: skip
    assert [c.data_type for c in daily[2]] == ["s", "d", "s", "n", "n", "n", "b"]
    assert [c.number_format for c in daily[2]][4:6] == ["#,##0.0%", "#,##0.00"]
    assert daily.max_row == 8 and daily.freeze_panes == "A2"


def test_a_resumed_run_writes_the_same_files_as_an_uninterrupted_one(tmp_path: Path) -> None:
    db, folder = tmp_path / "swarm.db", tmp_path / "swarm-runs"
    assert execute(db, folder, "market-map", "whole")["status"] == "succeeded"
    holder: list[RunDriver] = []

    class CancelAtTheReport(SimProvider):
        async def complete(self, request: ModelRequest) -> ModelResponse:
            if "investor" in request.prompt and holder:
                holder.pop().cancel()
                await anyio.sleep(5)
            return await super().complete(request)

    async def main() -> tuple[dict[str, object], dict[str, object]]:
        store = await Store.open(db)
        try:
            plan = validate_file(EXAMPLES / "market-map.json")
            options = runs.RunOptions(artifacts_dir=str(folder))
            hooks = runs.Hooks(on_start=holder.append)
            first = await runs.execute(
                store, plan, CancelAtTheReport(), options, run_id="cut", hooks=hooks
            )
            return first, await runs.resume(store, "cut", SimProvider())
        finally:
            await store.close()

    first, second = anyio.run(main)
    assert first["status"] == "cancelled" and second["status"] == "succeeded"
    whole = [(p, sha) for _, _, p, _, sha in recorded(db, "whole")]
    assert [(p, sha) for _, _, p, _, sha in recorded(db, "cut")] == whole


def test_the_weekly_deck_renders_with_its_titles_on_the_slides(tmp_path: Path) -> None:
    """LibreOffice's PDF of the deck: on the title slide the title lies inside the page and
    above the subtitle, without overlapping it; every slide's words lie inside the page."""
    db, folder = tmp_path / "swarm.db", tmp_path / "swarm-runs"
    assert execute(db, folder, "weekly-report", "w")["status"] == "succeeded"
    pdf = read_pdf(to_pdf(folder / "w/deck/weekly-report.pptx", tmp_path))
    width, height = pdf.pages[0]
    assert width / height == pytest.approx(16 / 9, rel=0.01)
    for word in pdf.words:
        assert 0 <= word.x0 < word.x1 <= width and 0 <= word.y0 < word.y1 <= height, word
    first = [w for w in pdf.words if w.page == 0]
    title = [w for w in first if w.text in ("Weekly", "operations")]
    subtitle = [w for w in first if w.text in ("Week", "November")]
    assert len(title) == 2 and len(subtitle) == 2, pdf.text(0)
    assert max(w.y1 for w in title) <= min(w.y0 for w in subtitle)  # no overlap: above it
    assert min(w.y0 for w in title) > height * 0.15  # not pushed off the top edge
    assert "Simulated:" in pdf.text(0) and "records (table follows)" not in pdf.text(1)
    assert [pdf.text(n).split()[0] for n in range(1, 3)] == ["Highlights", "Daily"]

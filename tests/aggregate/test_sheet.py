"""The ``sheet`` kind: typed XLSX cells reopened with openpyxl, CSV, and validation errors that
name the row and the column."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from swarm.errors import BudgetExceeded, TaskError
from tests.aggregate.conftest import context, problems, run, unlabelled

COLUMNS = [
    {"name": "company", "type": "string", "required": True},
    {"name": "employees", "type": "integer"},
    {"name": "revenue", "type": "number"},
    {"name": "public", "type": "boolean"},
    {"name": "founded", "type": "date"},
]
ROWS = [
    {"company": "Acme", "employees": 120, "revenue": 12.5, "public": True, "founded": "1999-04-01"},
    {"company": "=HYPERLINK(\"http://evil\")", "employees": "1,200", "revenue": "7",
     "public": "no", "founded": None, "extra": "ignored"},
]  # fmt: skip


def sheet_ctx(tmp: Path, rows: Any, **config: Any) -> Any:
    cfg = {"columns": COLUMNS, "source": "rows", "name": "Companies", **config}
    inputs = {"rows": json.dumps(rows), "other": "text"}
    return context(tmp, "sheet", inputs, cfg, provider=unlabelled())


def test_typed_cells_styled_frozen_header_and_csv(tmp_path: Path) -> None:
    ctx = sheet_ctx(tmp_path, ROWS, filename="companies.xlsx")
    summary = json.loads(run(ctx))
    assert summary["artifacts"] == ["agg/companies.xlsx", "agg/companies.csv"]
    assert summary["rows"] == {"Companies": 2}
    book = openpyxl.load_workbook(tmp_path / "agg/companies.xlsx")
    assert book.sheetnames == ["Companies"]
    ws = book["Companies"]
    assert [c.value for c in ws[1]] == [c["name"] for c in COLUMNS]
    assert all(c.font.b and c.fill.fgColor.rgb.endswith("1D2330") for c in ws[1])
    assert ws.freeze_panes == "A2"
    first = [c.value for c in ws[2]]
    assert first == ["Acme", 120, 12.5, True, dt.datetime(1999, 4, 1)]
    assert [c.data_type for c in ws[2]] == ["s", "n", "n", "b", "d"]
    assert ws["E2"].number_format == "yyyy-mm-dd"
    second = ws[3]
    assert second[0].data_type == "s" and second[0].value.startswith("=HYPERLINK")  # not a formula
    assert [c.value for c in second[1:]] == [1200, 7, False, None]
    assert isinstance(ws["B3"].value, int)
    assert 10 <= ws.column_dimensions["A"].width <= 60
    assert ws.column_dimensions["A"].width > ws.column_dimensions["D"].width
    csv = (tmp_path / "agg/companies.csv").read_text().splitlines()
    assert csv[0] == "company,employees,revenue,public,founded"
    assert csv[1] == "Acme,120,12.5,true,1999-04-01"


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ({"company": "X", "employees": "many"}, "employees", "'many' is not a number"),
        ({"company": "X", "employees": 2.5}, "employees", "not a whole number"),
        ({"company": "X", "revenue": True}, "revenue", "is a boolean"),
        ({"company": "X", "public": "maybe"}, "public", "not a boolean"),
        ({"company": "X", "founded": "last year"}, "founded", "not a date"),
        ({"employees": 3}, "company", "a value is required"),
    ],
)
def test_a_bad_value_names_its_row_and_column(
    tmp_path: Path, row: dict[str, Any], column: str, message: str
) -> None:
    ctx = sheet_ctx(tmp_path, [ROWS[0], row])
    with pytest.raises(TaskError) as caught:
        run(ctx)
    text = str(caught.value)
    assert f"sheet 'Companies', row 2, column '{column}'" in text and message in text
    assert caught.value.retryable is False and ctx.artifacts == []


def test_several_sheets_and_rows_extracted_by_the_model(tmp_path: Path) -> None:
    by_model = [{"name": "task", "type": "string"}, {"name": "hours", "type": "number"},
                {"name": "done", "type": "boolean"}]  # fmt: skip
    config = {
        "sheets": [
            {"name": "Companies", "columns": COLUMNS, "source": "rows"},
            {"name": "Extracted", "columns": by_model},
        ]
    }
    ctx = context(tmp_path, "sheet", {"rows": json.dumps(ROWS[:1]), "notes": "We did things."},
                  config, provider=unlabelled())  # fmt: skip
    summary = json.loads(run(ctx))
    assert summary["artifacts"] == [
        "agg/agg.xlsx",
        "agg/agg-Companies.csv",
        "agg/agg-Extracted.csv",
    ]
    assert len(ctx.steps) == 1  # one model call for the sheet without a source
    ws = openpyxl.load_workbook(tmp_path / "agg/agg.xlsx")["Extracted"]
    assert ws.max_row >= 3  # the sim answers at least two rows
    for row in ws.iter_rows(min_row=2):
        assert [c.data_type for c in row] == ["s", "n", "b"]


def test_rows_from_several_sources_and_a_map_result(tmp_path: Path) -> None:
    inputs = {
        "a": json.dumps(ROWS[0]),
        "m": json.dumps([json.dumps({"company": "B"}), [{"company": "C"}]]),
        "w": json.dumps({"items": [{"company": "D"}]}),
    }
    ctx = context(tmp_path, "sheet", inputs, {"columns": COLUMNS[:1], "source": ["a", "m"]})
    assert json.loads(run(ctx))["rows"] == {"Sheet1": 3}
    ctx = context(
        tmp_path, "sheet", inputs, {"columns": COLUMNS[:1], "source": "w", "path": "items"}
    )
    assert json.loads(run(ctx))["rows"] == {"Sheet1": 1}
    ctx = context(tmp_path, "sheet", {"t": "plain text"}, {"columns": COLUMNS[:1], "source": "t"})
    with pytest.raises(TaskError, match="not JSON rows"):
        run(ctx)


def test_the_same_rows_give_the_same_bytes(tmp_path: Path) -> None:
    digests = []
    for n in range(2):
        ctx = sheet_ctx(tmp_path / str(n), ROWS)
        run(ctx)
        digests.append([a.sha256 for a in ctx.artifacts])
    assert digests[0] == digests[1]


def test_config_problems_name_the_key() -> None:
    good = {"columns": COLUMNS, "source": "a"}
    assert problems("sheet", good) == []
    found = problems("sheet", {"columns": [{"name": "x", "type": "money"}, {"type": "integer"}],
                               "source": "zz", "formats": ["ods"]})  # fmt: skip
    assert any("config.columns[0].type" in p for p in found)
    assert any("config.columns[1]" in p and "name" in p for p in found)
    assert any("config.source" in p and "zz" in p for p in found)
    assert any("config.formats" in p for p in found)
    assert any("config.columns" in p for p in problems("sheet", {"source": "a"}))
    found = problems(
        "sheet", {"sheets": [{"name": "S", "columns": COLUMNS}, {"name": "S", "columns": COLUMNS}]}
    )
    assert any("names must differ" in p for p in found)


def test_a_model_pass_without_steps_left_says_how_to_fix_it(tmp_path: Path) -> None:
    config = {"columns": COLUMNS[:2]}  # no source: the model extracts the rows
    ctx = context(tmp_path, "sheet", {"notes": "text"}, config, allowance=0)
    with pytest.raises(BudgetExceeded, match="no step left") as caught:
        run(ctx)
    assert caught.value.retryable is False and "max_steps" in str(caught.value)


def test_number_formats_follow_the_column_type(tmp_path: Path) -> None:
    columns = [
        {"name": "founded", "type": "year"}, {"name": "zip", "type": "id"},
        {"name": "staff", "type": "integer"}, {"name": "revenue", "type": "currency"},
        {"name": "share", "type": "percent"}, {"name": "ratio", "type": "number", "places": 3},
        {"name": "score", "type": "number"},
    ]  # fmt: skip
    rows = [{"founded": 1981, "zip": "01010", "staff": 12000, "revenue": 5, "share": 0.25,
             "ratio": 0.5, "score": 5}, {"zip": 2010}]  # fmt: skip
    ctx = context(tmp_path, "sheet", {"r": json.dumps(rows)},
                  {"columns": columns, "source": "r"}, provider=unlabelled())  # fmt: skip
    run(ctx)
    ws = openpyxl.load_workbook(tmp_path / "agg/agg.xlsx").worksheets[0]
    assert [c.number_format for c in ws[2]] == [
        "0", "General", "#,##0", "#,##0.00", "#,##0.0%", "#,##0.000", "#,##0.00",
    ]  # fmt: skip
    assert ws["B2"].value == "01010" and ws["B3"].value == "2010" and ws["B2"].data_type == "s"
    assert (tmp_path / "agg/agg.csv").read_text().splitlines()[1] == "1981,01010,12000,5,0.25,0.5,5"
    assert any("places" in p for p in problems("sheet", {"source": "a", "columns": [
        {"name": "x", "type": "string", "places": 2}]}))  # fmt: skip


def test_csv_cells_that_would_be_formulas_are_defused(tmp_path: Path) -> None:
    hostile = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "a=b"]
    rows = [{"company": text, "employees": -5} for text in hostile]
    run(sheet_ctx(tmp_path, rows, formats=["csv"]))
    with open(tmp_path / "agg/agg.csv", newline="") as handle:
        cells = list(csv.reader(handle))
    assert [r[0] for r in cells[1:]] == [f"'{t}" for t in hostile[:-1]] + ["a=b"]
    assert {r[1] for r in cells[1:]} == {"-5"}  # numbers stay numbers


def test_rows_inside_an_object_result_are_found_or_the_error_says_where(tmp_path: Path) -> None:
    wrapped = {"text": "two firms", "rows": [{"company": "A"}, {"company": "B"}]}
    ctx = context(tmp_path / "1", "sheet", {"w": json.dumps(wrapped)},
                  {"columns": COLUMNS[:1], "source": "w"})  # fmt: skip
    assert json.loads(run(ctx))["rows"] == {"Sheet1": 2}
    ctx = context(tmp_path / "2", "sheet", {"w": json.dumps({"text": "none", "n": 3})},
                  {"columns": COLUMNS[:1], "source": "w"})  # fmt: skip
    with pytest.raises(TaskError, match=r"keys \['text', 'n'\].*no key holds") as caught:
        run(ctx)
    assert "path" in (caught.value.hint or "") and ctx.artifacts == []


def test_a_simulated_run_marks_its_workbook_and_csv(tmp_path: Path) -> None:
    ctx = context(tmp_path, "sheet", {"rows": json.dumps(ROWS[:1])},
                  {"columns": COLUMNS, "source": "rows", "name": "Companies"})  # fmt: skip
    run(ctx)
    book = openpyxl.load_workbook(tmp_path / "agg/agg.xlsx")
    assert book.sheetnames == ["Companies (simulated)"]
    ws = book.worksheets[0]
    assert [c.value for c in ws[1]][:2] == ["provenance", "company"]
    assert [c.value for c in ws[2]][:2] == ["simulated", "Acme"]
    assert (
        ws["A1"].comment.text.startswith("Simulated:") and "SIMULATED" in ws.oddHeader.center.text
    )
    assert book.properties.keywords == "simulated" and "(simulated)" in book.properties.title
    with open(tmp_path / "agg/agg.csv", newline="") as handle:
        cells = list(csv.reader(handle))
    assert cells[0][:2] == ["provenance", "company"] and cells[1][:2] == ["simulated", "Acme"]
    assert {len(r) for r in cells} == {len(COLUMNS) + 1}  # still one rectangular table

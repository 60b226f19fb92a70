"""The ``sheet`` kind: rows from upstream JSON, or extracted by the model against the plan's
column schema, validated against the column types and written as XLSX (typed cells, styled and
frozen header, fitted widths, one sheet per table) and CSV.

Config: ``columns`` (``[{name, type, required}]``, types ``string``, ``integer``, ``number``,
``boolean``, ``date``), ``source`` (a dependency id or a list of them whose JSON holds the rows;
without it the model extracts rows from all the dependencies' results), ``path`` (a key inside
the source's JSON object), ``name`` (the sheet's name) — or ``sheets``, a list of objects with
those keys, for several tables — plus ``formats`` (``xlsx``, ``csv``) and ``filename``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from swarm.errors import Problem, TaskError
from swarm.plan import TaskSpec
from workers.aggregate import common
from workers.aggregate.columns import (
    Column,
    Value,
    number_format,
    parse_columns,
    row_schema,
    typed_rows,
)
from workers.aggregate.files import FIXED_TIME, safe_name, stable_zip
from workers.aggregate.sources import parse
from workers.base import TaskContext
from workers.rules import sheet as rules
from workers.rules.sheet import FORMATS, sheet_title

MAX_WIDTH = 60
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""Cell text a spreadsheet would read as a formula (OWASP's CSV injection list)."""
PROVENANCE = "provenance"
"""The leading column a simulated run's tables carry, ``simulated`` in every row."""


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: list[Column]
    sources: list[str]
    """Dependencies whose JSON holds the rows; empty: the model extracts them."""
    path: str | None


class SheetWorker:
    kind: ClassVar[str] = "sheet"
    description: ClassVar[str] = (
        "rows from dependencies' JSON (or extracted by the model against a column schema), "
        "type-checked, as XLSX and CSV"
    )
    default_steps: ClassVar[int] = 2 * (1 + common.REASKS)

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        formats = ctx.spec.config.get("formats", list(FORMATS))
        stem = common.stem_of(ctx.spec)
        label = common.SIMULATED if common.simulated(ctx) else None
        filled: list[tuple[Table, list[list[Value]]]] = []
        for table in tables(ctx.spec):
            rows = await rows_for(ctx, table)
            typed = await common.off_loop(typed_rows, table.name, table.columns, rows)
            filled.append((table, typed))
        paths = []
        if "xlsx" in formats:
            data = await common.off_loop(render_xlsx, common.title_of(ctx.spec), filled, label)
            paths.append(await common.write(ctx, "sheet", f"{stem}.xlsx", data))
        if "csv" in formats:
            for table, values in filled:
                name = stem if len(filled) == 1 else f"{stem}-{safe_name(table.name)}"
                data = render_csv(table.columns, values, simulated=label is not None)
                paths.append(await common.write(ctx, "sheet", f"{name}.csv", data))
        counts = {table.name: len(values) for table, values in filled}
        return common.summary(self.kind, paths, rows=counts)


def tables(spec: TaskSpec) -> list[Table]:
    cfg = spec.config
    raw = cfg.get("sheets", [cfg])
    out = []
    for i, t in enumerate(raw):
        source = t.get("source", [])
        out.append(
            Table(
                name=str(t.get("name") or ("Sheet1" if "sheets" not in cfg else f"Sheet{i + 1}")),
                columns=parse_columns(t["columns"]),
                sources=[source] if isinstance(source, str) else list(source),
                path=t.get("path"),
            )
        )
    return out


async def rows_for(ctx: TaskContext, table: Table) -> list[Any]:
    """The table's raw rows: read from its sources' JSON, or extracted by the model."""
    if not table.sources:
        schema = {
            "type": "object",
            "properties": {"rows": {"type": "array", "items": row_schema(table.columns)}},
            "required": ["rows"],
        }
        names = ", ".join(f"{c.name} ({c.type})" for c in table.columns)
        instructions = (
            f"{ctx.spec.prompt.strip() or 'Extract a table from the material below.'}\n\n"
            f"Extract the rows of the table {table.name!r} with the columns {names}; "
            "dates as YYYY-MM-DD, numbers as JSON numbers, unknown values as null.\n\n"
            "## Results of the tasks this one depends on"
        )
        answer = await common.ask_json(ctx, instructions, schema)
        return list(answer["rows"])
    rows: list[Any] = []
    wanted = {c.name for c in table.columns}
    for source in table.sources:
        rows += _rows_in(source, parse(ctx.inputs.get(source, "")), table.path, wanted)
    return rows


def _rows_in(source: str, value: Any, path: str | None, names: set[str]) -> list[Any]:
    if path is not None:
        if not isinstance(value, dict) or path not in value:
            raise _bad(f"the result of {source!r} has no key {path!r}")
        value = value[path]
    elif isinstance(value, dict) and not names & set(value):
        value = _rows_inside(source, value)
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        flat: list[Any] = []
        for item in value:
            item = parse(item) if isinstance(item, str) else item
            flat += item if isinstance(item, list) else [item]
        return flat
    raise _bad(f"the result of {source!r} is not JSON rows (an object or a list of objects)")


def _rows_inside(source: str, value: dict[str, Any]) -> Any:
    """The rows of an object that is not itself a row (``{"text": …, "rows": [...]}``): its one
    key holding a list of objects; refused, naming the keys, when there is none or several."""
    keys = [
        k
        for k, v in value.items()
        if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)
    ]
    if len(keys) == 1:
        return value[keys[0]]
    found = f"keys {sorted(keys)} each hold" if keys else "no key holds"
    raise TaskError(
        f"the result of {source!r} is an object with keys {list(value)[:12]} that is not a row "
        f"(it has none of the columns), and {found} a list of rows",
        retryable=False,
        hint=f"set the table's 'path' to the key of {source!r}'s result that holds the rows",
    )


def _bad(message: str) -> TaskError:
    return TaskError(message, retryable=False, hint="check the upstream task's output format")


def render_xlsx(
    title: str, filled: list[tuple[Table, list[list[Value]]]], label: str | None = None
) -> bytes:
    """The workbook. ``label`` (a simulated run's notice) marks it where a reader looks: a
    leading ``provenance`` column, the sheet tabs, the printed page header and the document
    properties."""
    book = Workbook()
    book.remove(book.active)
    props = book.properties
    props.title, props.creator, props.lastModifiedBy = title, "swarm", "swarm"
    props.created = props.modified = FIXED_TIME
    if label:
        props.title, props.subject = f"{title} (simulated)", label
        props.keywords, props.description = "simulated", label
    for table, values in filled:
        _sheet(book, table, values, label)
    out = io.BytesIO()
    book.save(out)
    return stable_zip(out.getvalue())


def _sheet(book: Workbook, table: Table, values: list[list[Value]], label: str | None) -> None:
    name = sheet_title(table.name)
    if label:
        name = sheet_title(f"{name[:19]} (simulated)")
    ws = book.create_sheet(name)
    columns = list(table.columns)
    if label:
        columns.insert(0, Column(_provenance_name(table.columns)))
        values = [["simulated", *row] for row in values]
        ws.sheet_properties.tabColor = "B03A2E"
        ws.oddHeader.center.text = "SIMULATED DATA: invented by the sim provider"
    ws.append([c.name for c in columns])
    for cell in ws[1]:
        cell.font, cell.fill = (
            Font(bold=True, color="FFFFFF"),
            PatternFill("solid", fgColor="1D2330"),
        )
        cell.alignment = Alignment(vertical="center")
    if label:
        ws["A1"].comment = Comment(label, "swarm")
    for r, row in enumerate(values, start=2):
        ws.append(row)
        for c, value in enumerate(row, start=1):
            if isinstance(value, str) and value.startswith("="):
                ws.cell(r, c).data_type = "s"  # text from upstream is never a formula
    for index, column in enumerate(columns, start=1):
        if fmt := number_format(column):
            for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = fmt
        width = max([len(column.name)] + [len(_shown(r[index - 1])) for r in values])
        ws.column_dimensions[get_column_letter(index)].width = min(width + 3, MAX_WIDTH)
    ws.freeze_panes = "A2"
    ws.sheet_properties.pageSetUpPr.fitToPage = True  # printed: every column on the page
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.print_title_rows = "1:1"
    if values:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(values) + 1}"


def _provenance_name(columns: list[Column]) -> str:
    taken = {c.name for c in columns}
    return PROVENANCE if PROVENANCE not in taken else f"swarm_{PROVENANCE}"


def _shown(value: Value) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def render_csv(
    columns: list[Column], values: list[list[Value]], *, simulated: bool = False
) -> bytes:
    """RFC 4180 CSV in UTF-8. A simulated run's file leads with a ``provenance`` column that
    says ``simulated`` on every row, so it still parses as the same table plus one column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a CR in a cell is quoted
    lead = [_provenance_name(columns)] if simulated else []
    writer.writerow(lead + [_defused(c.name) for c in columns])
    for row in values:
        writer.writerow((["simulated"] if simulated else []) + [_csv_cell(v) for v in row])
    return out.getvalue().encode()


def _defused(text: str) -> str:
    """Text a spreadsheet would evaluate as a formula, prefixed with ``'`` (OWASP's advice for
    CSV injection: the cell then shows as text and nothing runs)."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _csv_cell(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None:
        return ""
    if isinstance(value, float):
        return json.dumps(value)
    return _defused(value) if isinstance(value, str) else str(value)

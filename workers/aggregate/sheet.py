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
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from swarm.errors import Problem, TaskError
from swarm.plan import TaskSpec
from workers.aggregate import common
from workers.aggregate.columns import (
    Column,
    Value,
    column_problems,
    parse_columns,
    row_schema,
    typed_rows,
)
from workers.aggregate.files import FIXED_TIME, safe_name, stable_zip, write_artifact
from workers.aggregate.sources import parse
from workers.base import TaskContext

FORMATS = ("xlsx", "csv")
TABLE_KEYS = {"name", "columns", "source", "path"}
MAX_WIDTH = 60
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
FORMATS_BY_TYPE = {"date": "yyyy-mm-dd", "integer": "#,##0", "number": "#,##0.##"}


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
        where, cfg = f"task {spec.id!r}", spec.config
        problems = common.common_problems(spec, TABLE_KEYS | {"sheets", "formats"})
        problems += common.choice_problems(spec, "formats", FORMATS)
        if "sheets" in cfg:
            if TABLE_KEYS & set(cfg):
                problems.append(Problem(where, "config", "give either 'sheets' or one table"))
            raw = cfg["sheets"]
            if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
                return [*problems, Problem(where, "config.sheets", "must be a list of tables")]
            for i, table in enumerate(raw):
                problems += _table_problems(spec, table, f"config.sheets[{i}].")
            names = [str(t.get("name") or f"Sheet{i + 1}") for i, t in enumerate(raw)]
            if len({_sheet_title(n) for n in names}) != len(names):
                problems.append(Problem(where, "config.sheets", "sheet names must differ"))
        else:
            problems += _table_problems(spec, cfg, "config.")
        return problems

    async def run(self, ctx: TaskContext) -> str:
        formats = ctx.spec.config.get("formats", list(FORMATS))
        stem = common.stem_of(ctx.spec)
        filled: list[tuple[Table, list[list[Value]]]] = []
        for table in tables(ctx.spec):
            rows = await rows_for(ctx, table)
            filled.append((table, typed_rows(table.name, table.columns, rows)))
        paths = []
        if "xlsx" in formats:
            data = render_xlsx(common.title_of(ctx.spec), filled)
            paths.append(write_artifact(ctx, "sheet", f"{stem}.xlsx", data))
        if "csv" in formats:
            for table, values in filled:
                name = stem if len(filled) == 1 else f"{stem}-{safe_name(table.name)}"
                data = render_csv(table.columns, values)
                paths.append(write_artifact(ctx, "sheet", f"{name}.csv", data))
        counts = {table.name: len(values) for table, values in filled}
        return common.summary(self.kind, paths, rows=counts)


def _table_problems(spec: TaskSpec, raw: dict[str, Any], prefix: str) -> list[Problem]:
    where = f"task {spec.id!r}"
    problems = column_problems(where, f"{prefix}columns", raw.get("columns"))
    if prefix != "config." and (unknown := set(raw) - TABLE_KEYS):
        problems.append(Problem(where, prefix.rstrip("."), f"unknown keys: {sorted(unknown)}"))
    source = raw.get("source", [])
    listed = [source] if isinstance(source, str) else source
    if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
        problems.append(Problem(where, f"{prefix}source", "must be a dependency id or a list"))
    elif stray := sorted(set(listed) - set(spec.deps)):
        problems.append(
            Problem(where, f"{prefix}source", f"not dependencies of this task: {stray}")
        )
    if "path" in raw and not isinstance(raw["path"], str):
        problems.append(Problem(where, f"{prefix}path", "must be a key (a string)"))
    if "name" in raw and (not isinstance(raw["name"], str) or not raw["name"].strip()):
        problems.append(Problem(where, f"{prefix}name", "must be a non-empty string"))
    return problems


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
    for source in table.sources:
        rows += _rows_in(source, parse(ctx.inputs.get(source, "")), table.path)
    return rows


def _rows_in(source: str, value: Any, path: str | None) -> list[Any]:
    if path is not None:
        if not isinstance(value, dict) or path not in value:
            raise _bad(f"the result of {source!r} has no key {path!r}")
        value = value[path]
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        flat: list[Any] = []
        for item in value:
            item = parse(item) if isinstance(item, str) else item
            flat += item if isinstance(item, list) else [item]
        return flat
    raise _bad(f"the result of {source!r} is not JSON rows (an object or a list of objects)")


def _bad(message: str) -> TaskError:
    return TaskError(message, retryable=False, hint="check the upstream task's output format")


def _sheet_title(name: str) -> str:
    return _BAD_SHEET_CHARS.sub("-", name).strip("'")[:31] or "Sheet"


def render_xlsx(title: str, filled: list[tuple[Table, list[list[Value]]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    props = book.properties
    props.title, props.creator, props.lastModifiedBy = title, "swarm", "swarm"
    props.created = props.modified = FIXED_TIME
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="1D2330")
    for table, values in filled:
        ws = book.create_sheet(_sheet_title(table.name))
        ws.append([c.name for c in table.columns])
        for cell in ws[1]:
            cell.font, cell.fill = header_font, header_fill
            cell.alignment = Alignment(vertical="center")
        for row in values:
            ws.append(row)
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # text from upstream is never a formula
        for index, column in enumerate(table.columns, start=1):
            letter = get_column_letter(index)
            if fmt := FORMATS_BY_TYPE.get(column.type):
                for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = fmt
            width = max([len(column.name)] + [len(_shown(r[index - 1])) for r in values])
            ws.column_dimensions[letter].width = min(width + 3, MAX_WIDTH)
        ws.freeze_panes = "A2"
        if values:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(table.columns))}{len(values) + 1}"
    out = io.BytesIO()
    book.save(out)
    return stable_zip(out.getvalue())


def _shown(value: Value) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def render_csv(columns: list[Column], values: list[list[Value]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    for row in values:
        writer.writerow([_csv_cell(v) for v in row])
    return out.getvalue().encode()


def _csv_cell(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, float) else str(value)

"""Column schemas for sheets: converting each value to its column's type (one of those a plan
may declare, :data:`workers.rules.sheet.TYPES`) with an error that names the sheet, the row and
the column."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from swarm.errors import TaskError

_JSON_TYPES = {
    "string": {"type": ["string", "null"]},
    "id": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "year": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "currency": {"type": ["number", "null"]},
    "percent": {"type": ["number", "null"], "description": "a fraction: 0.25 for 25%"},
    "boolean": {"type": ["boolean", "null"]},
    "date": {"type": ["string", "null"], "format": "date", "description": "YYYY-MM-DD"},
}
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}
_NUMBER = re.compile(r"^[+-]?(\d[\d,_]*\.?\d*|\.\d+)([eE][+-]?\d+)?$")

Value = str | int | float | bool | dt.date | None


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = "string"
    required: bool = False
    places: int | None = None
    """Decimal places shown for ``number``, ``currency`` and ``percent`` (2, 2, 1 by default)."""


class CellError(TaskError):
    """A value that does not fit its column; never retried (the input would not change)."""

    def __init__(self, sheet: str, row: int, column: str, message: str) -> None:
        super().__init__(
            f"sheet {sheet!r}, row {row}, column {column!r}: {message}",
            retryable=False,
            hint="fix the upstream output or the column's type in the plan",
        )
        self.sheet, self.row, self.column = sheet, row, column


def parse_columns(raw: list[dict[str, Any]]) -> list[Column]:
    return [
        Column(
            str(c["name"]),
            str(c.get("type", "string")),
            bool(c.get("required")),
            int(c["places"]) if "places" in c else None,
        )
        for c in raw
    ]


def row_schema(columns: list[Column]) -> dict[str, Any]:
    """The JSON Schema of one row, for asking a model to extract rows."""
    return {
        "type": "object",
        "properties": {c.name: _JSON_TYPES[c.type] for c in columns},
        "required": [c.name for c in columns],
    }


def convert(value: Any, column: Column) -> Value:
    """``value`` as ``column``'s type; raises ``ValueError`` saying what was expected."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if column.required:
            raise ValueError("a value is required")
        return None
    kind = column.type
    if kind == "string":
        return value if isinstance(value, str) else _text(value)
    if kind == "id":
        return _identifier(value)
    if kind == "boolean":
        return _boolean(value)
    if kind == "date":
        return _date(value)
    number = as_number(value)
    if kind in ("integer", "year"):
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    return number


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _identifier(value: Any) -> str:
    """An identifier as text: a whole number as its digits, anything else as written."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not an identifier")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value.strip() if isinstance(value, str) else str(value)


def number_format(column: Column) -> str | None:
    """The spreadsheet format a column's cells get: thousands separators and fixed places for
    amounts, none for years, a percent sign for fractions; None for text and booleans."""
    match column.type:
        case "date":
            return "yyyy-mm-dd"
        case "year":
            return "0"
        case "integer":
            return "#,##0"
        case "number" | "currency" | "percent":
            default = 1 if column.type == "percent" else 2
            places = default if column.places is None else column.places
            fixed = "#,##0" + ("." + "0" * places if places else "")
            return fixed + "%" if column.type == "percent" else fixed
    return None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false, yes/no)")


def as_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, int | float):
        number: int | float = value
    elif isinstance(value, str) and _NUMBER.match(value.strip()):
        text = value.strip().replace(",", "").replace("_", "")
        number = float(text) if any(c in text for c in ".eE") else int(text)
    else:
        raise ValueError(f"{value!r} is not a number")
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")


def typed_rows(sheet: str, columns: list[Column], rows: list[Any]) -> list[list[Value]]:
    """Every row converted to the columns' types; the first bad value fails, named by row
    (1-based, as in the spreadsheet below its header) and column."""
    out = []
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise CellError(sheet, n, "*", f"expected an object of column values, got {row!r:.80}")
        values: list[Value] = []
        for column in columns:
            try:
                values.append(convert(row.get(column.name), column))
            except ValueError as exc:
                raise CellError(sheet, n, column.name, f"{exc} (type {column.type})") from None
        out.append(values)
    return out

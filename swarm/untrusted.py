"""Text and JSON from outside the process — model answers, tool observations, error messages a
server wrote — made safe to store, display and send on. No I/O here.

Two things survive a model's answer and break later: a lone surrogate (``"\\ud800"`` in a
JSON string decodes to a code point no UTF-8 encoder accepts, so SQLite's bind, a file write or
an HTTP body fails on it) and a NUL (C strings stop there). :func:`clean_text` replaces both
with U+FFFD. And Python's ``json.loads`` accepts more than JSON: ``NaN``, ``Infinity`` and
numbers that overflow to infinity (``1e999``) decode to floats no JSON writer can write back,
and nesting a few thousand levels deep ends in ``RecursionError``. :func:`loads_json` refuses
all of them with a :class:`JsonRefused` that says what was wrong, so a caller re-asks the model
as it would for any invalid answer.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_JSON_DEPTH = 100
"""The deepest nesting of arrays and objects accepted in an answer (a result's schema rarely
needs a tenth of it; the recursive validators that check it give out near a thousand)."""
REPLACEMENT = "\ufffd"


class JsonRefused(ValueError):
    """Text that Python's ``json`` would decode but that is not JSON we can keep."""


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate and NUL replaced by U+FFFD (a surrogate pair split
    over two code points is joined into its character). Unchanged, and cheap, when clean."""
    if "\x00" not in text:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return text
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return joined.replace("\x00", REPLACEMENT)


def clean_value(value: Any) -> Any:
    """A decoded JSON value with :func:`clean_text` applied to every string in it, keys too.
    Recursive: call it on values whose depth :func:`loads_json` has bounded."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_value(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(k): clean_value(v) for k, v in value.items()}
    return value


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number; use a finite number, or null")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise JsonRefused(f"the number {text[:40]} is too large for a 64-bit float")
    return number


def loads_json(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON: ``NaN``, ``Infinity``, ``-Infinity``, numbers overflowing to infinity and
    nesting deeper than ``max_depth`` are refused (:class:`JsonRefused`, a ``ValueError``, as
    is any syntax error); strings come back cleaned (:func:`clean_value`)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise JsonRefused(f"JSON nested more than {max_depth} levels deep") from None
    if too_deep(value, max_depth):
        raise JsonRefused(f"JSON nested more than {max_depth} levels deep")
    return clean_value(value)


def too_deep(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests arrays and objects more than ``max_depth`` levels (iterative, so
    any depth can be asked about)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth >= max_depth:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


def dumps_json(value: Any) -> str:
    """Compact JSON text of a value :func:`loads_json` returned: keys in their given order (a
    record's fields are shown in that order), UTF-8 kept, non-finite numbers refused."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)

"""Pulling a plan out of untrusted model text: thinking traces, prose, code fences, whole JSON.

Model output is treated as hostile input: everything here is bounded (characters read, objects
scanned) and reports what it could not use as :class:`~swarm.errors.Problem` values instead of
raising, so a broken answer becomes a precise re-ask rather than a crash.
"""

from __future__ import annotations

import json
from typing import Any

from swarm.errors import Problem

MAX_OUTPUT_CHARS = 2_000_000
"""Characters of one answer that are read at all (K2.6 writes at most 32,768 tokens)."""
MAX_LINE_CHARS = 200_000
"""Longest line the line protocol accepts; a task's prompt longer than this is not a plan."""
MAX_DEPTH = 32
"""Deepest nesting of JSON values accepted in a plan (output schemas included)."""
MAX_SCAN_ATTEMPTS = 5_000
"""JSON decodes tried while looking for a whole plan in prose."""
MAX_SCAN_WORK = 20_000_000
"""Characters those decodes may read in all (a failed decode may read to the end)."""

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_TAGS = (THINK_OPEN, THINK_CLOSE)


def output_problem(message: str) -> Problem:
    """A problem with the answer as a whole rather than with one task."""
    return Problem("output", "", message)


class ThinkFilter:
    """Removes ``<think>…</think>`` spans from text that arrives in pieces.

    A tag may be split across pieces, so a possible partial tag at the end of a piece is held
    back until the next one. :meth:`feed` returns the answer text in segments: a new segment
    starts after every *stray* ``</think>`` (one without an opening tag), which means that what
    came before it was thinking too.
    """

    def __init__(self) -> None:
        self.inside = False
        self._held = ""

    def feed(self, text: str) -> list[str]:
        text = self._held + text
        self._held = ""
        segments = [""]
        while text:
            if self.inside:
                end = text.find(THINK_CLOSE)
                if end < 0:
                    self._held = _partial_tag(text)
                    return segments
                text = text[end + len(THINK_CLOSE) :]
                self.inside = False
                continue
            start, close = text.find(THINK_OPEN), text.find(THINK_CLOSE)
            if close >= 0 and (start < 0 or close < start):
                segments[-1] += text[:close]
                segments.append("")
                text = text[close + len(THINK_CLOSE) :]
            elif start >= 0:
                segments[-1] += text[:start]
                text = text[start + len(THINK_OPEN) :]
                self.inside = True
            else:
                self._held = _partial_tag(text)
                segments[-1] += text[: len(text) - len(self._held)]
                return segments
        return segments

    def flush(self) -> str:
        """What was held back, once the text has ended (nothing if inside a trace)."""
        held, self._held = self._held, ""
        return "" if self.inside else held


def _partial_tag(text: str) -> str:
    """The longest suffix of ``text`` that could be the start of a think tag."""
    for size in range(min(len(text), len(THINK_CLOSE) - 1), 0, -1):
        tail = text[-size:]
        if any(tag.startswith(tail) for tag in _TAGS):
            return tail
    return ""


def strip_thinking(text: str) -> str:
    """``text`` without thinking traces; with a stray ``</think>``, only what follows it."""
    think = ThinkFilter()
    segments = think.feed(text)
    segments[-1] += think.flush()
    return segments[-1]


def value_problem(value: Any) -> str | None:
    """Why a decoded JSON value cannot be used as plan data, or ``None``.

    Two things survive JSON decoding yet break later: lone surrogates (``"\\ud800"``), which
    cannot be stored or sent, and very deep nesting, which recursive validators choke on.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"JSON nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            stack.extend((k, depth + 1) for k in item)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"text that is not valid Unicode ({exc.reason})"
    return None


def json_objects(text: str) -> list[Any]:
    """Every top-level JSON object in ``text`` (prose, fences and all), in order, bounded."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    at = text.find("{")
    attempts = work = 0
    while at >= 0 and attempts < MAX_SCAN_ATTEMPTS and work < MAX_SCAN_WORK:
        attempts += 1
        try:
            value, end = decoder.raw_decode(text, at)
        except (json.JSONDecodeError, RecursionError):
            work += len(text) - at
            at = text.find("{", at + 1)
            continue
        work += end - at
        found.append(value)
        at = text.find("{", end)
    return found


def plan_candidates(text: str) -> list[dict[str, Any]]:
    """Objects in ``text`` that look like whole plans (they have ``tasks``), in order.

    A plan wrapped one level deep (``{"plan": {...}}``) counts too.
    """
    out: list[dict[str, Any]] = []
    for value in json_objects(text):
        if not isinstance(value, dict):
            continue
        if "tasks" in value:
            out.append(value)
            continue
        out.extend(v for v in value.values() if isinstance(v, dict) and "tasks" in v)
    return out


def diagnose(text: str, *, orphan_tasks: int = 0, thinking_open: bool = False) -> list[Problem]:
    """Why ``text`` holds no plan: empty, only a trace, cut off, invalid JSON or only prose."""
    if thinking_open:
        return [
            output_problem(
                "the answer ended inside its thinking trace (<think> without </think>), so it "
                "holds no plan; it was probably cut off by max_tokens"
            )
        ]
    body = text.strip()
    if not body:
        return [output_problem("the answer is empty: expected the plan in the line protocol")]
    if orphan_tasks:
        return [
            output_problem(
                f"{orphan_tasks} task lines but no header line before them: the first line "
                'must be the header {"goal": ..., "defaults": {...}, "budget": {...}}'
            )
        ]
    start = body.find("{")
    if start < 0:
        return [output_problem("the answer is prose only: it holds no JSON plan")]
    decoder = json.JSONDecoder()
    first_error: json.JSONDecodeError | None = None
    attempts = work = 0
    while start >= 0 and attempts < MAX_SCAN_ATTEMPTS and work < MAX_SCAN_WORK:
        attempts += 1
        work += len(body) - start
        try:
            _, end = decoder.raw_decode(body, start)
        except json.JSONDecodeError as exc:
            if not _closes(body, start):
                line = body.count("\n", 0, start) + 1
                return [
                    output_problem(
                        f"the JSON that starts on line {line} never closes: the answer is "
                        "truncated, probably cut off by max_tokens"
                    )
                ]
            first_error = first_error or exc
            start = body.find("{", start + 1)
            continue
        except RecursionError:
            return [output_problem("the JSON is nested too deeply to read")]
        start = body.find("{", end)
    if first_error is not None:
        where = f"line {first_error.lineno} column {first_error.colno}"
        return [output_problem(f"invalid JSON at {where}: {first_error.msg}")]
    return [
        output_problem(
            'no plan found: no header line {"goal": ...} followed by task lines, and no JSON '
            'object with a "tasks" list'
        )
    ]


def _closes(text: str, start: int) -> bool:
    """Whether the brackets opened at ``start`` are all closed again (strings respected)."""
    depth = 0
    in_string = escaped = False
    for char in text[start:]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return True
    return False

"""The line protocol and its incremental parser: a plan read task by task while it streams.

The protocol (what :mod:`planners.prompt` asks for)::

    {"goal": "...", "defaults": {...}, "budget": {...}}     the header
    {"id": "a", "kind": "llm", "prompt": "..."}              one task per line,
    {"id": "b", "kind": "llm", "prompt": "...", "deps": ["a"]}   deps on earlier lines only
    {"end": true}

:class:`PlanLineParser` turns text chunks into events. A task is announced the moment its line
is complete and valid on its own: its id is new, its deps name tasks already accepted, and the
plan model and its kind's checks accept it. Every accepted prefix is therefore a valid DAG, and a
caller may dispatch each task as it arrives. :meth:`PlanLineParser.close` validates the whole
plan again with :func:`swarm.validation.validate_data`.

Task lines with no header line before them still make a plan (the goal is known, the defaults
apply), read when the text ends. An answer that is not in the line protocol (a whole JSON plan,
in prose or a code fence) is read as a whole when the text ends, so the same parser serves
streaming and one-shot planning.
The parser does no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from planners.events import LineProblem, PlanEvent, PlanHeader, TaskReady
from planners.extract import (
    MAX_LINE_CHARS,
    MAX_OUTPUT_CHARS,
    ThinkFilter,
    diagnose,
    output_problem,
    plan_candidates,
    value_problem,
)
from planners.limits import whole_plan, with_limits
from planners.prompt import DEFAULT_LIMITS, Limits
from swarm.errors import PlanError, Problem
from swarm.plan import Plan, TaskSpec
from swarm.validation import validate_data

MAX_PROBLEMS = 100
"""Problems kept per answer; a re-ask quotes fewer still."""
_PROBE: dict[str, Any] = {"id": "probe", "kind": "llm", "prompt": "probe"}
_HEADER_KEYS = frozenset({"goal", "defaults", "budget", "version"})


class PlanLineParser:
    """Incremental reader of one planner answer (and, after :meth:`resume`, of its
    continuations); see the module docstring for the protocol and the guarantees."""

    def __init__(
        self, goal: str, limits: Limits = DEFAULT_LIMITS, *, source: str = "planner output"
    ) -> None:
        self.goal = goal
        self.limits = limits
        self.source = source
        self._header: dict[str, Any] | None = None
        self._header_raw: dict[str, Any] | None = None
        self._header_line = 0
        self._tasks: dict[str, tuple[dict[str, Any], int]] = {}
        self._specs: list[TaskSpec] = []
        self._start_answer()

    def _start_answer(self) -> None:
        self._think = ThinkFilter()
        self._pending: list[str] = []
        """Pieces of the line being read (a list: a line may arrive in thousands of chunks)."""
        self._pending_chars = 0
        self._skipping = False
        self._line = 0
        self._read = 0
        self._answer: list[str] = []
        self._problems: list[Problem] = []
        self._unreported = 0
        self._rejected: set[str] = set()
        self._ended = False
        self._finished = False
        self._dropped = 0
        self._orphans = 0
        self._first_bad: Problem | None = None
        self._cut_line = 0
        self._header_now = False
        self._accepted_now = 0

    @property
    def accepted(self) -> tuple[TaskSpec, ...]:
        """Tasks announced so far, in order."""
        return tuple(self._specs)

    @property
    def answer_text(self) -> str:
        """The current answer as read, without thinking traces."""
        return "".join(self._answer)

    def resume(self) -> None:
        """Read a further answer that continues this plan: the header and the accepted tasks
        stay; the new answer may repeat them unchanged and adds what is missing."""
        self._start_answer()

    def feed(self, chunk: str) -> list[PlanEvent]:
        """Read the next piece of the answer; events for every line it completes."""
        room = MAX_OUTPUT_CHARS - self._read
        if self._finished or room <= 0:
            return []
        events: list[PlanEvent] = []
        if len(chunk) > room:
            chunk = chunk[:room]
            message = f"the answer is over {MAX_OUTPUT_CHARS} characters; the rest was not read"
            events += self._report(0, output_problem(message))
        self._read += len(chunk)
        for index, segment in enumerate(self._think.feed(chunk)):
            if index:
                events += self._stray_close()
            events += self._text(segment)
        return events

    def finish(self) -> list[PlanEvent]:
        """The answer has ended: read its last line if it is complete; a cut-off last line is
        dropped. :meth:`close` calls this if the caller has not."""
        if self._finished:
            return []
        events = self._text(self._think.flush())
        text = self._take_line()
        if text and not self._skipping:
            self._line += 1
            if _is_json(text):
                events += self._line_events(text, self._line)
            else:
                self._cut_line = self._line
        self._finished = True
        return events

    def close(self) -> Plan:
        """The whole plan, validated with every check, or a PlanError naming every problem."""
        self.finish()
        if self._header is None:
            return self._close_whole()
        problems = list(self._problems)
        if not self._ended:
            message = 'the answer stopped before its {"end": true} line'
            if self._cut_line:
                message += f" (line {self._cut_line} was cut off and dropped)"
            problems.append(output_problem(message + "; it was probably cut off by max_tokens"))
        if not self._specs and not problems:
            problems.append(output_problem("the plan has a header but no tasks"))
        if self._unreported:
            problems.append(output_problem(f"… and {self._unreported} more problems"))
        if problems:
            raise PlanError(self.source, problems)
        tasks = [self._tasks[spec.id][0] for spec in self._specs]
        return validate_data({**self._header, "tasks": tasks}, source=self.source)

    # -- reading lines -------------------------------------------------------------------------

    def _text(self, text: str) -> list[PlanEvent]:
        if not text:
            return []
        self._answer.append(text)
        events: list[PlanEvent] = []
        for piece, ends_line in _pieces(text):
            if not self._skipping:
                self._pending.append(piece)
                self._pending_chars += len(piece)
                if self._pending_chars > MAX_LINE_CHARS:
                    n = self._line + 1
                    message = f"longer than {MAX_LINE_CHARS} characters; skipped"
                    events += self._report(n, Problem(f"line {n}", "", message))
                    self._take_line()
                    self._skipping = True
            if ends_line:
                self._line += 1
                line = self._take_line()
                if not self._skipping:
                    events += self._line_events(line, self._line)
                self._skipping = False
        return events

    def _take_line(self) -> str:
        line = "".join(self._pending)
        self._pending, self._pending_chars = [], 0
        return line

    def _line_events(self, line: str, n: int) -> list[PlanEvent]:
        text = line.strip().lstrip("\ufeff").strip()
        if self._ended or not text.startswith("{"):
            return []  # prose, fences, or anything after the end line
        if text.endswith(","):
            text = text[:-1].rstrip()
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            detail = (
                f"{exc.msg} (column {exc.colno})"
                if isinstance(exc, json.JSONDecodeError)
                else "nested too deeply"
            )
            problem = Problem(f"line {n}", "", f"not a complete JSON object: {detail}")
            if self._header is None:  # perhaps a line of a whole JSON plan; judged at the end
                self._first_bad = self._first_bad or problem
                return []
            return self._report(n, problem)
        if not isinstance(obj, dict) or "tasks" in obj:
            return []  # a whole plan on one line is read as a whole at the end
        if "id" in obj or "kind" in obj:
            return self._task(obj, n)
        if obj.get("end") is True and len(obj) == 1:
            self._ended = self._header is not None
            return []
        if obj.keys() & _HEADER_KEYS:
            return self._header_events(obj, n)
        if self._header is None:
            return []
        message = 'neither a task (it has no "id") nor the end line {"end": true}'
        return self._report(n, Problem(f"line {n}", "", message))

    def _header_events(self, obj: dict[str, Any], n: int) -> list[PlanEvent]:
        if self._header is not None:
            if obj == self._header_raw:
                return []  # repeated unchanged in a continuation
            message = (
                f"a second header, different from line {self._header_line}; only the first counts"
            )
            return self._report(n, Problem(f"line {n}", "", message))
        raw, problems = with_limits(obj, self.goal, self.limits)
        bad = value_problem(obj)
        if bad:
            problems.append(Problem("plan", "", bad))
        plan = None
        try:
            plan = validate_data({**raw, "tasks": [_PROBE]}, source=self.source)
        except PlanError as exc:
            for p in exc.problems:
                if p.where == "plan":
                    problems.append(p)
                elif p.field == "max_steps":  # the defaults' allowance, seen on the probe task
                    problems.append(Problem("plan", "defaults.max_steps", p.message))
        if problems or plan is None:
            problems = problems or [Problem("plan", "", "the header is not valid")]
            return [event for p in problems for event in self._report(n, p)]
        self._header, self._header_raw, self._header_line = raw, obj, n
        self._header_now = True
        return [PlanHeader(plan.goal, plan.defaults, plan.budget, n)]

    def _task(self, obj: dict[str, Any], n: int) -> list[PlanEvent]:
        if self._header is None:
            self._orphans += 1
            return []
        tid = obj.get("id")
        where = f"line {n}, task {tid!r}" if isinstance(tid, str) else f"line {n}"
        if isinstance(tid, str) and tid in self._tasks:
            first, line = self._tasks[tid]
            if first == obj:
                return []  # repeated unchanged in a continuation
            message = f"duplicate id (a task {tid!r} was already accepted from line {line})"
            return self._report(n, Problem(where, "id", message))
        if len(self._specs) >= self.limits.max_tasks:
            self._dropped += 1
            if self._dropped > 1:
                return []
            message = (
                f"over the limit of {self.limits.max_tasks} tasks (max_tasks): this and every "
                "later task line are dropped; plan fewer, broader tasks"
            )
            return self._report(n, Problem(where, "", message))
        problems = self._task_problems(obj, tid, where)
        if problems:
            if isinstance(tid, str):
                self._rejected.add(tid)
            return [event for p in problems for event in self._report(n, p)]
        spec = TaskSpec.model_validate(obj)
        self._rejected.discard(spec.id)
        self._tasks[spec.id] = (obj, n)
        self._specs.append(spec)
        self._accepted_now += 1
        return [TaskReady(spec, n)]

    def _task_problems(self, obj: dict[str, Any], tid: object, where: str) -> list[Problem]:
        assert self._header is not None
        problems: list[Problem] = []
        bad = value_problem(obj)
        if bad:
            return [Problem(where, "", bad)]
        deps = obj.get("deps", [])
        probe = obj
        if isinstance(deps, list):
            names = [d for d in deps if isinstance(d, str)]
            problems += self._dep_problems(tid, names, where)
            probe = {**obj, "deps": [d for d in deps if not isinstance(d, str)]}
        try:
            validate_data({**self._header, "tasks": [probe]}, source=self.source)
        except PlanError as exc:
            for p in exc.problems:
                problems.append(p if p.where == "plan" else Problem(where, p.field, p.message))
        return problems

    def _dep_problems(self, tid: object, deps: list[str], where: str) -> list[Problem]:
        problems = []
        seen: set[str] = set()
        for dep in deps:
            if dep == tid:
                message = "a task cannot depend on itself"
            elif dep in seen:
                message = f"dependency {dep!r} listed twice"
            elif dep in self._tasks:
                seen.add(dep)
                continue
            elif dep in self._rejected:
                message = f"dependency {dep!r} was rejected (see its problem)"
            else:
                message = f"unknown dependency {dep!r}: deps may only name tasks on earlier lines"
            seen.add(dep)
            problems.append(Problem(where, "deps", message))
        return problems

    def _stray_close(self) -> list[PlanEvent]:
        """A ``</think>`` without ``<think>``: everything of this answer before it was thinking."""
        self._take_line()
        self._skipping = False
        if self._accepted_now:
            message = (
                "a </think> came after tasks were accepted, so lines above it may have been "
                "thinking; send the plan only after the thinking trace"
            )
            return self._report(self._line, output_problem(message))
        if self._header_now:
            self._header = self._header_raw = None
        read, think = self._read, self._think
        self._start_answer()
        self._read, self._think = read, think
        return []

    def _report(self, n: int, problem: Problem) -> list[PlanEvent]:
        if len(self._problems) >= MAX_PROBLEMS:
            self._unreported += 1
            return []
        self._problems.append(problem)
        return [LineProblem(problem, n)]

    # -- a whole JSON plan ---------------------------------------------------------------------

    def _close_whole(self) -> Plan:
        text = self.answer_text
        first_error: PlanError | None = None
        for raw in reversed(plan_candidates(text)):  # the last plan in the answer is its answer
            try:
                return whole_plan(raw, self.goal, self.limits, source=self.source)
            except PlanError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        if self._orphans and not self._problems:
            return self._with_implied_header(text)
        problems = list(self._problems)
        if problems and self._orphans:
            message = f"{self._orphans} task lines were not read: they need a valid header first"
            problems.append(output_problem(message))
        elif not problems:
            if self._orphans and self._first_bad:
                problems.append(self._first_bad)
            problems += diagnose(text, orphan_tasks=self._orphans, thinking_open=self._think.inside)
        raise PlanError(self.source, problems)

    def _with_implied_header(self, text: str) -> Plan:
        """Task lines with no header line before them: the goal and the defaults are known, so
        they are read as if ``{"goal": GOAL}`` came first (being liberal loses nothing). If even
        so they make no valid plan, its problems say why, and that the header was missing."""
        parser = PlanLineParser(self.goal, self.limits, source=self.source)
        parser._header_events({"goal": self.goal}, 0)
        parser._header_now = False
        parser.feed(text)
        try:
            return parser.close()
        except PlanError as exc:
            message = (
                f"{self._orphans} task lines came with no header line before them; they were "
                "read with the goal and the default settings"
            )
            raise PlanError(self.source, [*exc.problems, output_problem(message)]) from None


def _pieces(text: str) -> list[tuple[str, bool]]:
    """``text`` split at newlines: (piece, whether a newline ended it)."""
    parts = text.split("\n")
    return [(part, True) for part in parts[:-1]] + [(parts[-1], False)]


def _is_json(text: str) -> bool:
    try:
        json.loads(text.strip().removesuffix(","))
    except (json.JSONDecodeError, RecursionError):
        return False
    return True

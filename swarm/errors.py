"""The one error tree of swarm: every error the project raises on purpose lives here.

::

    SwarmError                       root; ``exit_code`` says how the CLI ends
    ├── InputError                   bad input from the user: exit 2, nothing written
    │   ├── PlanError                a plan file that does not load or validate (all problems)
    │   │   └── PlannerError         the planner's model gave no valid plan after its re-asks
    │   ├── ConfigError              a bad flag, environment variable or setting
    │   ├── RunNotFound              an unknown run id
    │   └── NoApproval               no approval gate waits for that task (nothing to decide)
    ├── AlreadyDecided               an approval was decided before (once only): exit 6
    ├── StoreError                   the database cannot be opened, migrated or written
    │   ├── StaleAttempt             a result from an attempt that is no longer current (fencing)
    │   └── RunTakenOver             another driver took the run (a bigger owner epoch): stop
    ├── ExportError                  a trace could not be delivered to its OTLP endpoint: exit 3
    └── TaskError                    one attempt of one task failed; knows task, attempt, retryable
        ├── ProviderError            a model call failed (retryable or not)
        │   └── RateLimited          the provider said 429; carries the server's retry hint
        ├── OutputError              model output that is malformed or does not fit its schema
        ├── BudgetExceeded           a step, token or cost budget cannot cover the work
        │   └── BudgetExhausted      ... even with nothing in flight: the run pauses, resumable
        ├── CodeFailed               a ``code`` task's program failed (exit, signal, limit)
        ├── WorkerCrashed            a worker raised something it should not have (a bug)
        ├── AttemptLost              the executor lost the attempt's process or node: retried
        ├── ToolCallError            an MCP or fetch tool call failed (the agent is told why)
        └── TaskTimeout              the task's timeout fired
            └── CodeTimeout          a ``code`` task's program hit its wall clock and was killed

Runtime errors carry the task id and attempt number so a message read in a log, the event
table or a terminal always says where it happened and whether it will be tried again. Every
error pickles with its fields (:meth:`SwarmError.__reduce__`): a task's error made on a cluster
node crosses back to the driver as itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarm.core.budget import Shortfall


class SwarmError(Exception):
    """Root of every deliberate swarm error."""

    exit_code: int = 1
    cli_hint: str | None = None
    """Advice in the CLI's words (flags, commands), shown by the CLI instead of ``hint``;
    ``hint`` itself stays in words that fit any caller (the Python API's too)."""

    def __init__(
        self, message: str, *, hint: str | None = None, cli_hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if cli_hint is not None:
            self.cli_hint = cli_hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickling calls ``cls(*args)``, which keyword-only fields break:
        # rebuild without __init__ and restore every attribute instead.
        return (_rebuilt, (type(self), self.args, self.__dict__.copy()))

    def cli_text(self) -> str:
        """The error as the CLI prints it: ``cli_hint`` in place of ``hint`` when there is one."""
        if self.cli_hint is None:
            return str(self)
        hint, self.hint = self.hint, self.cli_hint
        try:
            return str(self)
        finally:
            self.hint = hint


def _rebuilt(cls: type[SwarmError], args: tuple[Any, ...], state: dict[str, Any]) -> SwarmError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InputError(SwarmError):
    """The user gave something unusable; the CLI exits 2 and writes nothing."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem: where it is (task id, field) and what is wrong."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        loc = self.where if not self.field else f"{self.where}.{self.field}"
        return f"{loc}: {self.message}"


class PlanError(InputError):
    """A plan that cannot run; ``problems`` lists every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{source}: invalid plan, {count} {noun}:\n{lines}",
            hint="fix the plan file and check it with `swarm validate PLAN`",
        )


class PlannerError(PlanError):
    """The planner's model gave no valid plan, even after the allowed re-asks; ``problems`` are
    those of its last answer."""

    def __init__(self, problems: list[Problem], *, attempts: int) -> None:
        super().__init__(f"the planner's answer (after {attempts} attempts)", problems)
        self.attempts = attempts
        self.hint = (
            "try again, narrow or rephrase the goal, or write the plan by hand "
            "(`swarm schema` prints the format)"
        )


class ConfigError(InputError):
    """A bad flag, environment variable or setting."""


class RunNotFound(InputError):
    """The run id names no run in the database."""

    def __init__(self, run_id: str, db: str) -> None:
        super().__init__(
            f"no run {run_id!r} in {db}",
            hint="check the run id and the database (Swarm.runs() lists the runs it holds)",
        )
        self.cli_hint = (
            "list runs with `swarm runs --db PATH`, or point --db/SWARM_DB at the right file"
        )
        self.run_id = run_id


class NoApproval(InputError):
    """``swarm approve``/``reject`` of a task with no approval gate waiting for a decision."""

    def __init__(self, run_id: str, task_id: str, why: str) -> None:
        super().__init__(
            f"run {run_id}: task {task_id!r} {why}: there is nothing to decide",
            hint="list what waits for a decision with Swarm.approvals()",
        )
        self.cli_hint = f"list what waits for a decision with `swarm approvals {run_id}`"


class AlreadyDecided(SwarmError):
    """An approval can be decided once: a second decision (from any process) is refused and
    changes nothing."""

    exit_code = 6

    def __init__(self, run_id: str, task_id: str, decision: str, by: str | None) -> None:
        who = f" by {by}" if by else ""
        super().__init__(
            f"run {run_id}: task {task_id!r} was already {decision}{who}; the decision stands "
            "and nothing was changed",
            hint="a rejected task can be run again with a retry of the run (Swarm.retry)",
        )
        self.cli_hint = f"a rejected task can be run again with `swarm retry {run_id}`"
        self.decision = decision
        self.decided_by = by


class StoreError(SwarmError):
    """The database cannot be opened, migrated or written."""


class StaleAttempt(StoreError):
    """A result arrived from an attempt that is no longer the task's current attempt.

    Raised by the scheduler core and by the store's fenced writes; the result is refused.
    """

    def __init__(self, task_id: str, attempt: int, current: int) -> None:
        super().__init__(f"task {task_id!r}: attempt {attempt} is stale (current is {current})")
        self.task_id = task_id
        self.attempt = attempt
        self.current = current


class RunTakenOver(StoreError):
    """Another driver took the run over: the run's owner epoch moved past this driver's.

    The driver's transaction was rolled back whole (nothing of it is written); it must stop.
    """

    def __init__(self, run_id: str, mine: int, current: int | None) -> None:
        now = "the run is gone" if current is None else f"epoch {current} > {mine}"
        super().__init__(
            f"run {run_id} taken over by another driver ({now}): this process stopped and "
            "wrote nothing more",
            hint=f"the other driver goes on with it; follow it with `swarm show {run_id}`",
        )
        self.run_id = run_id
        self.mine = mine
        self.current = current


class ExportError(SwarmError):
    """``swarm export --format otlp --endpoint URL``: the receiver refused the trace or could
    not be reached (the run itself is untouched; export it again later)."""

    exit_code = 3


class TaskError(SwarmError):
    """One attempt of one task failed.

    ``retryable`` decides whether the scheduler tries again (within the task's retry limit).
    ``task_id``/``attempt`` are filled by the worker layer when the error crosses it.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        task_id: str | None = None,
        attempt: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable
        self.task_id = task_id
        self.attempt = attempt

    @property
    def kind(self) -> str:
        """A short machine-readable name for the event log and the database."""
        return type(self).__name__

    def __str__(self) -> str:
        where = ""
        if self.task_id is not None:
            where = f"task {self.task_id!r}"
            if self.attempt is not None:
                where += f" attempt {self.attempt}"
            where += ": "
        text = f"{where}{self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class ProviderError(TaskError):
    """A model call failed; ``status`` is the HTTP status where there was one.

    ``ends_run`` marks a failure every other call would repeat (the server rejected the
    credentials): the run stops at once, as failed and resumable, and the error is raised to
    the caller instead of failing each task in turn."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        hint: str | None = None,
        ends_run: bool = False,
    ) -> None:
        super().__init__(message, retryable=retryable, hint=hint)
        self.status = status
        self.ends_run = ends_run


class RateLimited(ProviderError):
    """The provider answered 429; ``retry_after_s`` is its hint, if it gave one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message, retryable=True, status=429)
        self.retry_after_s = retry_after_s


class OutputError(TaskError):
    """Model output that is malformed or breaks its schema, after the allowed re-asks."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)


class BudgetExceeded(TaskError):
    """A step, token or cost budget cannot cover the work; never retried."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


class BudgetExhausted(BudgetExceeded):
    """What is spent leaves too little for the next call even with nothing else in flight.

    Not a failure of the task: the attempt stops, the task goes back to pending, and the run
    pauses once what is in flight has finished (`swarm resume RUN --max-tokens N` goes on)."""

    def __init__(self, shortfall: Shortfall) -> None:
        super().__init__(
            f"{shortfall.describe()}: the run pauses",
            hint=f"resume with {shortfall.flag} {shortfall.suggested_limit()} or more",
        )
        self.shortfall = shortfall


class ToolCallError(TaskError):
    """A tool call of an agent (an MCP server's tool, ``fetch``) failed: refused, timed out, or
    its server died. The agent sees the message as the call's observation; ``retryable`` says
    whether the same call may succeed if made again (a restarted server, a slow network)."""


class TaskTimeout(TaskError):
    """The task's timeout fired; retried like any transient failure."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"timed out after {timeout_s:g}s", retryable=True)
        self.timeout_s = timeout_s


class CodeFailed(TaskError):
    """A ``code`` task's program exited with an error, was killed or broke a limit."""


class CodeTimeout(TaskTimeout):
    """A ``code`` task's program reached its wall-clock limit and its process group was killed:
    recorded as a timeout (outcome ``timeout``), not as a failure."""

    def __init__(self, message: str, *, timeout_s: float) -> None:
        TaskError.__init__(self, message, retryable=True)
        self.timeout_s = timeout_s


class WorkerCrashed(TaskError):
    """A worker raised an exception that is not a :class:`TaskError`: a bug, never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class AttemptLost(TaskError):
    """The executor lost the attempt: the process or node running it died (a Ray worker
    crashed, a node was removed, an actor died). Not the task's fault, so it is retried."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            retryable=True,
            hint="the scheduler tries again elsewhere; if it recurs, check the cluster's nodes",
        )

"""The core's one door: ``handle(*events) -> commands``, in the manner of dask's worker state
machine (``handle_stimulus(*events) -> instructions``).

Everything that happens to a run reaches the core as an event (an attempt's outcome, an outside
decision, tasks added, a budget that ran short, the passing of time); what the core decides comes
back as commands for the runtime to carry out (start an attempt, note a retry's time, a failure
and the branch it skips, pause, stall, finish, set a timer). The machine keeps the log of the
events it handled: replaying a log on a fresh core built from the same tasks and seed gives the
same commands and the same state, which is what makes a run's history enough to rebuild it.

No I/O and no clock of its own: time arrives in the events (:class:`Tick`, and the failure that
schedules a retry).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarm.core.budget import Shortfall
from swarm.core.scheduler import Dispatch, Failed, Retry, Scheduler, TaskInfo

# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """Time has passed: start what is ready, or what a retry's backoff has released."""

    now: float


@dataclass(frozen=True, slots=True)
class AttemptSucceeded:
    task_id: str
    attempt: int
    steps_used: int


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    task_id: str
    attempt: int
    steps_used: int
    retryable: bool
    now: float
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class AttemptSuspended:
    """The attempt ended waiting: for a decision (``on`` empty) or on the tasks in ``on``."""

    task_id: str
    attempt: int
    steps_used: int
    on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttemptPaused:
    """The attempt stopped because a budget cannot cover its next call."""

    task_id: str
    attempt: int
    steps_used: int
    shortfall: Shortfall


@dataclass(frozen=True, slots=True)
class AttemptCancelled:
    task_id: str
    attempt: int
    steps_used: int


@dataclass(frozen=True, slots=True)
class AttemptExpanded:
    """A fan-out's attempt added ``children``: the task joins them once they succeed."""

    task_id: str
    attempt: int
    steps_used: int
    children: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decided:
    """A person approved (or rejected) a task waiting for a decision."""

    task_id: str
    approved: bool


@dataclass(frozen=True, slots=True)
class TasksArrived:
    """Tasks added to the live run (streamed plan, fan-out children, sub-agents, revision)."""

    tasks: tuple[TaskInfo, ...]


@dataclass(frozen=True, slots=True)
class BudgetShort:
    """A token or dollar budget cannot cover the next call: dispatch nothing more."""

    shortfall: Shortfall


@dataclass(frozen=True, slots=True)
class Halt:
    """Cancellation: dispatch nothing more."""


@dataclass(frozen=True, slots=True)
class Hold:
    """A source of new tasks opened (a streaming planner, tasks recorded and not yet
    committed, a revision being written): the run is not over until it is released."""


@dataclass(frozen=True, slots=True)
class Release:
    """A source of new tasks (see :class:`Hold`) has finished."""


@dataclass(frozen=True, slots=True)
class Replaced:
    """A failed branch (the failed task and its skipped descendants) was revised: its tasks
    are replaced by the revision's."""

    task_ids: tuple[str, ...]


Event = (
    Tick
    | AttemptSucceeded
    | AttemptFailed
    | AttemptSuspended
    | AttemptPaused
    | AttemptCancelled
    | AttemptExpanded
    | Decided
    | TasksArrived
    | BudgetShort
    | Halt
    | Hold
    | Release
    | Replaced
)

# -- commands ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Skip:
    """A task added behind a failed dependency: record it skipped."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop dispatching for this shortfall; end the run resumable once nothing runs."""

    shortfall: Shortfall


@dataclass(frozen=True, slots=True)
class Stall:
    """Only outside decisions can move the run on: end it resumable, or keep waiting."""

    waiting: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Finish:
    """The run is over: write its end."""

    counts: dict[str, int] = field(hash=False)


@dataclass(frozen=True, slots=True)
class WakeAt:
    """Handle a :class:`Tick` at this time: a retry's backoff ends."""

    at: float


@dataclass(frozen=True, slots=True)
class WaitRefused:
    """A wait that could never end (on itself, on a descendant, in a loop): the task failed
    for good instead, its branch skipped as ``failed`` says."""

    failed: Failed
    reason: str


@dataclass(frozen=True, slots=True)
class Revise:
    """Ask for a revision of ``failed``'s branch (the run is held open until
    :class:`Release`, and :class:`Replaced` if the revision came)."""

    failed: Failed
    revision: int


Command = Dispatch | Retry | Failed | Skip | Pause | Stall | Finish | WakeAt | WaitRefused | Revise


class Machine:
    """The scheduler behind one door; see the module's docstring."""

    def __init__(self, core: Scheduler, *, revisions: int = 0) -> None:
        self.core = core
        self.revisions = revisions
        """How many failed branches may still be revised (:class:`Revise`); 0: a failure
        just skips its descendants."""
        self._revised = 0
        self.log: list[tuple[Event, ...]] = []
        """Every call's events, in order: replayed on a fresh core (:func:`replay`), they
        rebuild this one and the commands it gave."""
        self.given: list[Command] = []
        """Every command this machine gave, in order (what a replay must give again)."""
        self.now = 0.0
        self._paused_told = False
        self._stall_told: tuple[str, ...] = ()
        self._finished = False

    def handle(self, *events: Event) -> list[Command]:
        """Apply the events in order, then decide: what to start, and what the run is now."""
        out: list[Command] = []
        self.log.append(events)
        for event in events:
            self._apply(event, out)
        if not self._finished:
            out.extend(self.core.dispatch(self.now))
            self._state_commands(out)
        self.given.extend(out)
        return out

    def _failed(self, failed: Failed, out: list[Command]) -> None:
        """A task failed for good: say so, and ask for a revision while any is left."""
        out.append(failed)
        if self._revised < self.revisions and not self.core.halted:
            self._revised += 1
            self.core.hold()  # the run stays open until the revision is in (or not)
            out.append(Revise(failed, self._revised))

    def _apply(self, event: Event, out: list[Command]) -> None:
        core = self.core
        match event:
            case Tick(now):
                self.now = max(self.now, now)
            case AttemptSucceeded(task_id, attempt, steps):
                core.on_success(task_id, attempt, steps)
            case AttemptFailed(task_id, attempt, steps, retryable, now, hint):
                self.now = max(self.now, now)
                decision = core.on_failure(
                    task_id, attempt, steps, retryable=retryable, now=now, retry_after_s=hint
                )
                if isinstance(decision, Failed):
                    self._failed(decision, out)
                else:
                    out.append(decision)
            case AttemptSuspended():
                self._suspend(event, out)
            case AttemptPaused(task_id, attempt, steps, shortfall):
                core.pause(shortfall)
                core.on_paused(task_id, attempt, steps)
            case AttemptCancelled(task_id, attempt, steps):
                core.on_cancelled(task_id, attempt, steps)
            case AttemptExpanded(task_id, attempt, steps, children):
                core.expand(task_id, attempt, steps, list(children))
            case Decided(task_id, approved):
                if approved:
                    core.wake(task_id)
                else:
                    self._failed(core.fail_waiting(task_id), out)
            case TasksArrived(tasks):
                out.extend(Skip(info.id) for info in tasks if not core.add_task(info))
            case BudgetShort(shortfall):
                core.pause(shortfall)
            case Halt():
                core.halt()
            case Hold():
                core.hold()
            case Release():
                core.release()
            case Replaced(task_ids):
                core.replace(list(task_ids))

    def _suspend(self, event: AttemptSuspended, out: list[Command]) -> None:
        """Suspend a running attempt; a wait that could never end fails the task instead."""
        core = self.core
        try:
            core.suspend(event.task_id, event.attempt, event.steps_used, on=event.on)
        except ValueError as exc:
            failed = core.on_failure(
                event.task_id, event.attempt, event.steps_used, retryable=False, now=self.now
            )
            assert isinstance(failed, Failed)
            out.append(WaitRefused(failed, str(exc)))

    def _state_commands(self, out: list[Command]) -> None:
        core = self.core
        if core.paused is not None and not self._paused_told:
            self._paused_told = True
            out.append(Pause(core.paused))
        if core.is_done():
            self._finished = True
            out.append(Finish(core.counts()))
            return
        if core.stalled():
            waiting = tuple(core.waiting())
            if waiting != self._stall_told:
                self._stall_told = waiting
                out.append(Stall(waiting))
        else:
            self._stall_told = ()
        wake = core.next_wakeup()
        if wake is not None:
            out.append(WakeAt(wake))


def replay(
    core: Scheduler, log: list[tuple[Event, ...]], *, revisions: int = 0
) -> tuple[Machine, list[Command]]:
    """Feed a recorded log to a fresh core (same tasks, limits and seed, already started;
    ``revisions`` as the original machine's): returns the machine and every command it gave,
    which are the original's."""
    machine = Machine(core, revisions=revisions)
    commands: list[Command] = []
    for events in log:
        commands.extend(machine.handle(*events))
    return machine, commands

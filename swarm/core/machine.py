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


Command = Dispatch | Retry | Failed | Skip | Pause | Stall | Finish | WakeAt


class Machine:
    """The scheduler behind one door; see the module's docstring."""

    def __init__(self, core: Scheduler) -> None:
        self.core = core
        self.log: list[tuple[Event, ...]] = []
        """Every call's events, in order: replayed on a fresh core (:func:`replay`), they
        rebuild this one and the commands it gave."""
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
        if self._finished:
            return out
        out.extend(self.core.dispatch(self.now))
        self._state_commands(out)
        return out

    def _apply(self, event: Event, out: list[Command]) -> None:
        core = self.core
        match event:
            case Tick(now):
                self.now = max(self.now, now)
            case AttemptSucceeded(task_id, attempt, steps):
                core.on_success(task_id, attempt, steps)
            case AttemptFailed(task_id, attempt, steps, retryable, now, hint):
                self.now = max(self.now, now)
                out.append(
                    core.on_failure(
                        task_id, attempt, steps, retryable=retryable, now=now, retry_after_s=hint
                    )
                )
            case AttemptSuspended(task_id, attempt, steps, on):
                core.suspend(task_id, attempt, steps, on=on)
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
                    out.append(core.fail_waiting(task_id))
            case TasksArrived(tasks):
                out.extend(Skip(info.id) for info in tasks if not core.add_task(info))
            case BudgetShort(shortfall):
                core.pause(shortfall)
            case Halt():
                core.halt()

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


def replay(core: Scheduler, log: list[tuple[Event, ...]]) -> tuple[Machine, list[Command]]:
    """Feed a recorded log to a fresh core (same tasks, limits and seed, already started):
    returns the machine and every command it gave, which are the original's."""
    machine = Machine(core)
    commands: list[Command] = []
    for events in log:
        commands.extend(machine.handle(*events))
    return machine, commands

"""Live progress for a run: a rich display on a terminal, a steady plain line elsewhere.

It reads the driver's in-memory state on each tick (never the database): the scheduler core's
statuses, the step pool, the budget, when each task started, and the provider's rate governor
if it has one. On a terminal it redraws in place; off a terminal (CI logs, pipes) it prints one
short line every :data:`PLAIN_INTERVAL_S` seconds, plus one when the run ends.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from swarm.core.money import usd
from swarm.core.scheduler import Status

if TYPE_CHECKING:
    from swarm.runtime.driver import RunDriver

PLAIN_INTERVAL_S = 5.0
"""Off a terminal: seconds between two progress lines."""
REDRAW_S = 0.25
"""On a terminal: the display is rebuilt at most this often."""
RUNNING_SHOWN = 6
_DONE = ("succeeded", "failed", "skipped", "cancelled")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the display shows, read from the driver at one instant."""

    counts: dict[str, int]
    total: int
    done: int
    by_kind: dict[str, tuple[int, int, int]]
    """kind -> (done, running, total)."""
    running: list[tuple[str, float]] = field(default_factory=list)
    """Running tasks and their seconds so far, longest first."""
    elapsed_s: float = 0.0
    eta_s: float | None = None
    steps_spent: int = 0
    steps_held: int = 0
    steps_total: int = 0
    tokens: int = 0
    max_tokens: int | None = None
    cost_usd: float = 0.0
    max_cost_usd: float | None = None
    rate_waiting: int = 0
    """Model calls waiting on the provider's rate limit (0 when there is no governor)."""
    attempts: int = 0
    """Attempts started so far, over all tasks (more than ``tried`` once any is retried)."""
    tried: int = 0
    """Tasks with at least one attempt."""
    retrying: int = 0
    """Tasks on a retry now: waiting out a retry's backoff, or running an attempt after the
    first."""
    server_retrying: str | None = None
    """A model server that keeps failing: what, where, and how long calls keep trying."""


def retry_notice(driver: RunDriver, now: float) -> str | None:
    """The latest ``provider.retrying`` notice while its next try is still due."""
    journal = driver.journal
    notice = getattr(journal, "last_retry", None)
    if notice is None or now - getattr(journal, "last_retry_at", 0.0) > notice.retry_in_s + 5:
        return None
    return str(notice.describe())


def rate_limit_waiting(provider: Any) -> int:
    """How many calls wait on the provider's rate governor, if it exposes ``waiting``.

    The governor may count callers blocked in its ``acquire`` as an int, or set a bool; a
    provider without a governor never waits.
    """
    governor = getattr(provider, "governor", None)
    waiting = getattr(governor, "waiting", 0) if governor is not None else 0
    if isinstance(waiting, bool):
        return int(waiting)
    return waiting if isinstance(waiting, int) and waiting > 0 else 0


def snapshot(driver: RunDriver, elapsed_s: float, now: float | None = None) -> Snapshot:
    """Read the driver's state once (O(tasks); the display calls it a few times a second)."""
    now = time.time() if now is None else now
    counts = driver.core.counts()
    counts["pending"] = counts.get("pending", 0) + counts.pop("ready", 0)
    total = sum(counts.values())
    done = sum(counts.get(s, 0) for s in _DONE)
    kinds: dict[str, Counter[str]] = {}
    running: list[tuple[str, float]] = []
    started = driver.state.started
    attempts = tried = retrying = 0
    for task_id, spec in list(driver.specs.items()):
        try:
            status = driver.core.status(task_id)
            attempt = driver.core.attempt(task_id)
        except KeyError:  # added to the plan, not yet to the core
            continue
        attempts += attempt
        tried += attempt > 0
        tally = kinds.setdefault(spec.kind, Counter())
        tally["total"] += 1
        if status is Status.RUNNING:
            tally["running"] += 1
            running.append((task_id, max(0.0, now - started.get(task_id, now))))
            retrying += attempt > 1
        elif status.value in _DONE:
            tally["done"] += 1
        elif attempt:  # pending or ready after an attempt: its retry is due
            retrying += 1
    running.sort(key=lambda item: -item[1])
    eta = elapsed_s / done * (total - done) if done else None
    budget, pool = driver.budget, driver.core.pool
    return Snapshot(
        counts=counts,
        total=total,
        done=done,
        by_kind={k: (c["done"], c["running"], c["total"]) for k, c in sorted(kinds.items())},
        running=running,
        elapsed_s=elapsed_s,
        eta_s=eta,
        steps_spent=pool.spent,
        steps_held=pool.reserved,
        steps_total=pool.total,
        tokens=budget.spent_tokens,
        max_tokens=budget.max_tokens,
        cost_usd=budget.spent_cost_usd,
        max_cost_usd=budget.max_cost_usd,
        rate_waiting=rate_limit_waiting(driver.provider),
        attempts=attempts,
        tried=tried,
        retrying=retrying,
        server_retrying=retry_notice(driver, now),
    )


class Progress:
    """The run's live display; ``attach`` it to the driver, ``tick`` it, ``stop`` it."""

    def __init__(self, console: Console, *, simulated: bool, quiet: bool = False) -> None:
        self.console = console
        self.simulated = simulated
        self.quiet = quiet
        self.driver: RunDriver | None = None
        self.started = time.monotonic()
        self._live: Live | None = None
        self._last_plain = 0.0
        self._last_draw = 0.0
        self._stopped = False

    def attach(self, driver: RunDriver) -> None:
        self.driver = driver
        self.started = time.monotonic()
        if self.quiet or self._live is not None:  # one display per run, however often attached
            return
        if self.console.is_terminal:
            # Transient: the live area is erased at the end and the last frame printed once,
            # so an interrupted redraw (Ctrl-C) never leaves a second header in the scrollback.
            self._live = Live(
                self.render(), console=self.console, auto_refresh=False, transient=True
            )
            self._live.start()

    def tick(self) -> None:
        if self.driver is None or self.quiet or self._stopped:
            return
        now = time.monotonic()
        if self._live is not None:
            if now - self._last_draw >= REDRAW_S:
                self._last_draw = now
                self._live.update(self.render(), refresh=True)
            return
        if not self._last_plain or now - self._last_plain >= PLAIN_INTERVAL_S:
            self._last_plain = now
            self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)

    def stop(self) -> None:
        """End the display with one last frame (or line) of the final state, with no ETA;
        calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self._live is not None:
            self._live.stop()
            self._live = None
            self.console.print(self.render())
        elif self.driver is not None and not self.quiet:
            self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)

    def snapshot(self) -> Snapshot:
        """The driver's state now; once stopped, with no ETA (the run is over, whatever the
        counts say: a cancelled run's ETA would be stale)."""
        assert self.driver is not None
        s = snapshot(self.driver, time.monotonic() - self.started)
        return replace(s, eta_s=None) if self._stopped else s

    def line(self) -> str:
        """The plain progress line printed off a terminal."""
        s = self.snapshot()
        c = s.counts
        tag = "[simulated] " if self.simulated else ""
        eta = "" if s.eta_s is None or s.done == s.total else f", ETA {s.eta_s:.0f}s"
        wait = f"; {s.rate_waiting} waiting on the rate limit" if s.rate_waiting else ""
        wait += f"; retrying {s.server_retrying}" if s.server_retrying else ""
        wait += f"; {c['waiting']} waiting for a decision" if c.get("waiting") else ""
        return (
            f"{tag}{s.done}/{s.total} done: {c['succeeded']} ok, {c['failed']} failed, "
            f"{c['skipped']} skipped, {c['running']} running{_retries(s)}; steps "
            f"{s.steps_spent}/{s.steps_total}; tokens {s.tokens:,}; {usd(s.cost_usd)}; "
            f"{s.elapsed_s:.1f}s{eta}{wait}"
        )

    def render(self) -> RenderableType:
        """The terminal display: progress bar, statuses, kinds, running tasks, budgets."""
        assert self.driver is not None
        s = self.snapshot()
        title = Text(f"run {self.driver.run_id}", style="bold")
        if self.simulated:
            title.append("  [simulated provider]", style="yellow")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        grid.add_row("progress", _bar_line(s))
        grid.add_row("tasks", _status_line(s))
        if s.by_kind:
            grid.add_row("kinds", Text(_kinds_text(s)))
        grid.add_row("running", Text(_running_text(s)))
        grid.add_row("steps", Text(_of(s.steps_spent + s.steps_held, s.steps_total, "") + _held(s)))
        grid.add_row("tokens", Text(_of(s.tokens, s.max_tokens, "")))
        grid.add_row("cost", Text(_cost(s)))
        if s.rate_waiting:
            grid.add_row(
                "rate limit", Text(f"{s.rate_waiting} calls waiting on the rate limit", "yellow")
            )
        if s.server_retrying:
            grid.add_row("server", Text(f"retrying {s.server_retrying}", "red"))
        if s.counts.get("waiting"):
            waiting = ", ".join(sorted(self.driver.waits())[:8])
            grid.add_row(
                "waiting", Text(f"{s.counts['waiting']} ({waiting}): swarm approvals", "blue")
            )
        return Group(title, grid)


def _bar_line(s: Snapshot) -> Table:
    row = Table.grid(padding=(0, 1))
    row.add_column(width=40)
    row.add_column(no_wrap=True)
    eta = "-" if s.eta_s is None else f"{s.eta_s:.0f}s"
    share = s.done / s.total if s.total else 0.0
    row.add_row(
        ProgressBar(total=max(s.total, 1), completed=s.done, width=40),
        Text(f"{s.done}/{s.total} ({share:.0%})  elapsed {s.elapsed_s:.1f}s  ETA {eta}"),
    )
    return row


def _status_line(s: Snapshot) -> Text:
    text = Text()
    styles = (
        ("succeeded", "green"),
        ("running", "cyan"),
        ("pending", "dim"),
        ("failed", "red"),
        ("skipped", "magenta"),
        ("cancelled", "yellow"),
    )
    for i, (name, style) in enumerate(styles):
        if i:
            text.append(" · ")
        text.append(f"{s.counts.get(name, 0)} {name}", style=style)
    retries = _retries(s)
    if retries:
        text.append(f"  ·  {retries.removeprefix(', ')}", style="yellow" if s.retrying else "")
    return text


def _retries(s: Snapshot) -> str:
    """``, 327 attempts for 307 tasks (4 retrying)`` once any task needed more than one."""
    if s.attempts <= s.tried and not s.retrying:
        return ""
    return f", {s.attempts:,} attempts for {s.tried:,} tasks ({s.retrying} retrying)"


def _kinds_text(s: Snapshot) -> str:
    return " · ".join(
        f"{kind} {done}/{total}" + (f" ({running} running)" if running else "")
        for kind, (done, running, total) in s.by_kind.items()
    )


def _running_text(s: Snapshot) -> str:
    if not s.running:
        return "-"
    shown = ", ".join(f"{task} {secs:.1f}s" for task, secs in s.running[:RUNNING_SHOWN])
    more = len(s.running) - RUNNING_SHOWN
    return shown + (f", … (+{more} more)" if more > 0 else "")


def _of(value: float, limit: float | None, unit: str) -> str:
    if limit is None:
        return f"{unit}{value:,.0f}"
    share = value / limit if limit else 0.0
    return f"{unit}{value:,.0f} of {unit}{limit:,.0f} ({share:.0%})"


def _held(s: Snapshot) -> str:
    return f"  ({s.steps_spent:,} used, {s.steps_held:,} held by running tasks)"


def _cost(s: Snapshot) -> str:
    if s.max_cost_usd is None:
        return usd(s.cost_usd)
    share = s.cost_usd / s.max_cost_usd if s.max_cost_usd else 0.0
    return f"{usd(s.cost_usd)} of {usd(s.max_cost_usd)} ({share:.0%})"

"""Live progress for a run: a rich display on a terminal, a steady plain line elsewhere."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from swarm.runtime.driver import RunDriver

PLAIN_INTERVAL_S = 2.0


class Progress:
    """Reads the driver's in-memory state (never the database) on each tick."""

    def __init__(self, console: Console, *, simulated: bool, quiet: bool = False) -> None:
        self.console = console
        self.simulated = simulated
        self.quiet = quiet
        self.driver: RunDriver | None = None
        self.started = time.monotonic()
        self._live: Live | None = None
        self._last_plain = 0.0

    def attach(self, driver: RunDriver) -> None:
        self.driver = driver
        self.started = time.monotonic()
        if self.quiet:
            return
        if self.console.is_terminal:
            self._live = Live(self._table(), console=self.console, refresh_per_second=8)
            self._live.start()

    def tick(self) -> None:
        if self.driver is None or self.quiet:
            return
        if self._live is not None:
            self._live.update(self._table())
            return
        now = time.monotonic()
        if now - self._last_plain >= PLAIN_INTERVAL_S:
            self._last_plain = now
            self.console.print(self.line(), highlight=False)

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    def line(self) -> str:
        assert self.driver is not None
        c = self.driver.core.counts()
        total = sum(c.values())
        done = c["succeeded"] + c["failed"] + c["skipped"]
        pool = self.driver.core.pool
        tag = "[simulated] " if self.simulated else ""
        return (
            f"{tag}{done}/{total} done: {c['succeeded']} ok, {c['failed']} failed, "
            f"{c['skipped']} skipped, {c['running']} running; steps {pool.spent}/{pool.total}; "
            f"{time.monotonic() - self.started:.1f}s"
        )

    def _table(self) -> Table:
        assert self.driver is not None
        d = self.driver
        c = d.core.counts()
        total = sum(c.values())
        done = c["succeeded"] + c["failed"] + c["skipped"]
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (total - done) if done else float("nan")
        title = f"run {d.run_id}" + ("  [simulated provider]" if self.simulated else "")
        table = Table(title=title, show_header=False, box=None)
        table.add_row("progress", f"{done}/{total} ({done / max(total, 1):.0%}), ETA {eta:.1f}s")
        table.add_row(
            "tasks",
            f"{c['succeeded']} ok · {c['running']} running · {c['ready'] + c['pending']} waiting"
            f" · {c['failed']} failed · {c['skipped']} skipped",
        )
        table.add_row(
            "steps", f"{d.core.pool.spent} used, {d.core.pool.reserved} held of {d.core.pool.total}"
        )
        cost = f"${d.budget.spent_cost_usd:.4f}"
        if d.budget.max_cost_usd is not None:
            cost += f" of ${d.budget.max_cost_usd:.2f}"
        table.add_row("tokens", f"{d.budget.spent_tokens:,}   cost {cost}")
        table.add_row("elapsed", f"{elapsed:.1f}s")
        return table

"""The approval gate: a task with ``approval`` waits at dispatch, before any model call, until a
person decides (`swarm approve`/`swarm reject`, any process) or its timeout decides for them.

The gate is the driver's :attr:`~swarm.runtime.waiting.RunWaiting.wait_gate`: it suspends the
task's first attempt (recording the approval's row with the wait) unless the task was approved
already. Decisions are made in the database (:mod:`swarm.store.approvals`), never in the
driver; the gate reads them and applies them to the core under the driver's owner epoch:

- at the start of a session (decisions made while no driver ran), before the first dispatch;
- while the run goes, by polling every :data:`POLL_S` (a decision from another process takes
  effect within about that long), and on PostgreSQL at once, woken by the deciding
  transaction's notification (:mod:`swarm.runtime.notify`);
- when a timeout fires (read on the injected clock, so tests cover hours in virtual time): the
  gate decides ``approve`` or ``reject`` itself, through the same compare-and-set as a person
  (so a person deciding at that instant either wins or is told it was decided), or, with
  ``pause``, stops keeping the run open so it ends ``waiting`` (resumable).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from swarm.core.clock import Clock
from swarm.core.scheduler import Status
from swarm.errors import AlreadyDecided, StoreError
from swarm.plan import Approval
from swarm.store.approvals import ApprovalStore, Decision
from swarm.store.ops import ApprovalRequested

if TYPE_CHECKING:
    from swarm.runtime.driver import RunDriver

POLL_S = 0.5
"""How often a live driver looks for decisions made by other processes."""
TIMEOUT_BY = "timeout"
"""``decided_by`` of a decision the gate's timeout made."""


class ApprovalGate:
    """One run's approval gates: holds tasks at dispatch, applies decisions and timeouts."""

    def __init__(
        self,
        run_id: str,
        store: ApprovalStore,
        clock: Clock,
        *,
        decided: Sequence[Decision] = (),
        requested: Mapping[str, tuple[int, float]] | None = None,
    ) -> None:
        self.run_id = run_id
        self.store = store
        self.clock = clock
        self.approved = {d.task_id for d in decided if d.decision == "approved"}
        """Tasks a person (or a timeout) approved: the gate lets them through."""
        self._early = list(decided)
        self._requested = dict(requested or {})
        """Latest request per task (attempt, wall time): a resumed gate's timeout goes on."""
        self._driver: RunDriver | None = None

    # -- the gate ---------------------------------------------------------------------------

    def hold(self, task_id: str, attempt: int) -> str | None:
        """``approval`` if this attempt must wait for a decision (its request is recorded)."""
        gate = self._gate(task_id)
        if gate is None or task_id in self.approved:
            return None
        assert self._driver is not None, "the gate is not attached to a driver"
        now = time.time()
        self._driver.writer.submit(
            ApprovalRequested(self.run_id, task_id, attempt, now, gate.prompt, gate.timeout_s)
        )
        self._requested[task_id] = (attempt, now)
        self._start_timer(task_id, attempt, gate)
        return "approval"

    def _gate(self, task_id: str) -> Approval | None:
        # The driver's live specs: tasks added at run time may have approval gates too.
        spec = self._driver.specs.get(task_id) if self._driver is not None else None
        return spec.approval_gate() if spec is not None else None

    # -- the driver's side ------------------------------------------------------------------

    def begin(self, driver: RunDriver) -> None:
        """Before the session's first dispatch: apply decisions made while no driver ran, and
        restart the timeouts of the gates still waiting."""
        self._driver = driver
        early, self._early = self._early, []
        self._apply(early)
        for task_id, wait in driver.waits().items():
            gate = self._gate(task_id)
            if wait.reason == "approval" and gate is not None:
                self._start_timer(task_id, wait.attempt, gate)

    async def watch(self) -> None:
        """Poll for decisions while the run goes (in the driver's task group), at once when
        the driver's :class:`~swarm.runtime.notify.Wakeups` hears of one."""
        assert self._driver is not None, "the gate is not attached to a driver"
        while True:
            # People decide in wall-clock time; a notification (PostgreSQL) cuts the wait short.
            await self._driver.wakeups.wait("approval", POLL_S)
            await self.poll()

    async def poll(self) -> None:
        waiting = self._waiting()
        if not waiting:
            return
        try:
            found = await self.store.decisions(self.run_id, sorted(waiting))
        except StoreError:
            return  # a busy database: ask again next time
        self._apply(found)

    def _waiting(self) -> dict[str, int]:
        """Tasks waiting for an approval now, and the attempt each waits after."""
        assert self._driver is not None
        return {t: w.attempt for t, w in self._driver.waits().items() if w.reason == "approval"}

    def _apply(self, decisions: Sequence[Decision]) -> None:
        """Apply each decision of a task still waiting after the decided attempt (once)."""
        driver = self._driver
        assert driver is not None
        waiting = self._waiting()
        for d in decisions:
            if d.decision == "approved":
                self.approved.add(d.task_id)
            if waiting.get(d.task_id) != d.attempt:
                continue
            if driver.core.status(d.task_id) is not Status.WAITING:
                continue
            del waiting[d.task_id]
            if d.decision == "approved":
                driver.wake(d.task_id, {"decision": "approved", "by": d.decided_by, "note": d.note})
            else:
                why = f": {d.note}" if d.note else ""
                driver.fail_waiting(d.task_id, f"rejected by {d.decided_by or 'someone'}{why}")

    # -- timeouts ---------------------------------------------------------------------------

    def _start_timer(self, task_id: str, attempt: int, gate: Approval) -> None:
        driver = self._driver
        if gate.timeout_s is None or driver is None:
            return
        requested = self._requested.get(task_id)
        waited = max(0.0, time.time() - requested[1]) if requested else 0.0
        left = max(0.0, gate.timeout_s - waited)
        driver.start_soon(self._timeout, task_id, attempt, gate, self.clock.now() + left)

    async def _timeout(self, task_id: str, attempt: int, gate: Approval, at: float) -> None:
        left = at - self.clock.now()
        if left > 0 and math.isfinite(left):
            await self.clock.sleep(left)
        if self._waiting().get(task_id) != attempt:
            return  # decided meanwhile
        driver = self._driver
        assert driver is not None
        if gate.on_timeout == "pause":
            driver.stop_keeping_open()  # the run ends `waiting` once nothing else moves
            return
        decision = "approved" if gate.on_timeout == "approve" else "rejected"
        note = f"no decision within {gate.timeout_s:g} s"
        # Decide only as the run's owner: a driver another process took over (it was paused
        # past its lease) never confirms its epoch again, so it decides nothing.
        await driver.writer.owned_recently()
        try:
            made = await self.store.decide(self.run_id, task_id, decision, by=TIMEOUT_BY, note=note)
        except AlreadyDecided:
            await self.poll()  # a person decided first: theirs stands
            return
        self._apply([made])

"""Approval decisions: read what waits for a person, and decide it once, from any process.

The driver writes an approval's row when the gate is reached (``ApprovalRequested``, with the
task's wait, through its writer). A decision is a compare-and-set on that row
(``decision IS NULL``), in its own short ``BEGIN IMMEDIATE`` transaction with its event, so
two people (or a person and a timeout) deciding at once get one winner and one
:class:`~swarm.errors.AlreadyDecided`. A decision does not touch the task: the driver that
owns the run applies it (a live driver polls for it, and on PostgreSQL is woken by the
transaction's ``pg_notify``, :mod:`swarm.store.pg_notify`; a resume reads it), so the task's state
is only ever written under the owner epoch. Kill -9 anywhere loses nothing: a decision is
either committed or was never made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, insert, select, text

from swarm.errors import AlreadyDecided, NoApproval, RunNotFound
from swarm.store import views
from swarm.store.pg_notify import announce
from swarm.store.schema import approvals, events, runs, tasks
from swarm.store.store import Store

DECISIONS = ("approved", "rejected")


@dataclass(frozen=True, slots=True)
class Decision:
    """A decided approval, as the driver applies it."""

    task_id: str
    attempt: int
    decision: str
    """``approved`` or ``rejected``."""
    decided_by: str | None
    decided_at: float
    note: str | None


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """An approval gate waiting for a person (a row of the ``pending_approvals`` view), with
    the results of the task's dependencies (what the person decides on)."""

    run_id: str
    task_id: str
    title: str | None
    kind: str
    attempt: int
    requested_at: float
    prompt: str | None
    goal: str
    run_status: str
    inputs: dict[str, str | None]
    """Each dependency's id → its stored result (None if it has none)."""


class ApprovalStore:
    """The approvals of one database; construct over an open :class:`Store`."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock

    async def pending(self, run_id: str | None = None) -> list[PendingApproval]:
        """What waits for a decision (in one run, or in all), oldest request first."""
        sql = f"SELECT * FROM ({views.PENDING_APPROVALS}) AS p"
        args: dict[str, str] = {}
        if run_id is not None:
            sql += " WHERE p.run_id = :run_id"  # text(): each dialect's own placeholders
            args = {"run_id": run_id}
        sql += " ORDER BY p.requested_at, p.run_id, p.task_id"
        async with self.store._reading() as conn:
            if run_id is not None:
                found = await conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id))
                if found.first() is None:
                    raise RunNotFound(run_id, self.store.path)
            rows = (await conn.execute(text(sql), args)).all()
            out = []
            for row in rows:
                deps = [str(d) for d in json.loads(row.deps_json)]
                results = await conn.execute(
                    select(tasks.c.task_id, tasks.c.result).where(
                        tasks.c.run_id == row.run_id, tasks.c.task_id.in_(deps)
                    )
                )
                found_results = {t: r for t, r in results.all()}
                out.append(
                    PendingApproval(
                        row.run_id,
                        row.task_id,
                        row.title,
                        row.kind,
                        row.attempt,
                        row.requested_at,
                        row.prompt,
                        row.goal,
                        row.run_status,
                        {dep: found_results.get(dep) for dep in deps},
                    )
                )
        return out

    async def decide(
        self, run_id: str, task_id: str, decision: str, *, by: str | None, note: str | None
    ) -> Decision:
        """Decide the task's open approval, once: :class:`AlreadyDecided` if it was decided,
        :class:`NoApproval` if none waits (nothing is written then)."""
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r} is not one of {DECISIONS}")
        now = self._clock()
        async with self.store._writing(f"{decision[:-1]}e task {task_id!r}") as conn:
            found = await conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id))
            if found.first() is None:
                raise RunNotFound(run_id, self.store.path)
            latest = (
                await conn.execute(
                    select(approvals)
                    .where(approvals.c.run_id == run_id, approvals.c.task_id == task_id)
                    .order_by(approvals.c.attempt.desc())
                    .limit(1)
                )
            ).first()
            if latest is None:
                raise NoApproval(run_id, task_id, "has reached no approval gate")
            if latest.decision is not None:
                raise AlreadyDecided(run_id, task_id, latest.decision, latest.decided_by)
            changed = await conn.execute(
                approvals.update()
                .where(
                    and_(
                        approvals.c.run_id == run_id,
                        approvals.c.task_id == task_id,
                        approvals.c.attempt == latest.attempt,
                        approvals.c.decision.is_(None),
                    )
                )
                .values(decision=decision, decided_by=by, decided_at=now, note=note)
            )
            if changed.rowcount != 1:  # cannot happen under the write lock; kept as the rule
                raise AlreadyDecided(run_id, task_id, "decided", None)
            await conn.execute(
                insert(events).values(
                    run_id=run_id,
                    at=now,
                    type=f"approval.{decision}",
                    task_id=task_id,
                    attempt=latest.attempt,
                    data_json=json.dumps({"by": by, "note": note, "at": now}),
                )
            )
            await announce(conn, "approval", run_id)  # PostgreSQL: the driver wakes at commit
        return Decision(task_id, latest.attempt, decision, by, now, note)

    async def decisions(self, run_id: str, task_ids: list[str] | None = None) -> list[Decision]:
        """The run's decided approvals (of ``task_ids`` only, if given), newest attempt last."""
        query = select(approvals).where(
            approvals.c.run_id == run_id, approvals.c.decision.is_not(None)
        )
        if task_ids is not None:
            query = query.where(approvals.c.task_id.in_(task_ids))
        async with self.store._reading() as conn:
            rows = (await conn.execute(query.order_by(approvals.c.attempt))).all()
        return [
            Decision(r.task_id, r.attempt, r.decision, r.decided_by, r.decided_at, r.note)
            for r in rows
        ]

    async def requested(self, run_id: str) -> dict[str, tuple[int, float]]:
        """Each task's latest approval request: attempt and when (wall clock) it was made."""
        query = select(approvals.c.task_id, approvals.c.attempt, approvals.c.requested_at).where(
            approvals.c.run_id == run_id
        )
        async with self.store._reading() as conn:
            rows = (await conn.execute(query.order_by(approvals.c.attempt))).all()
        return {r.task_id: (r.attempt, r.requested_at) for r in rows}

"""Decisions announced on PostgreSQL: ``pg_notify`` in the transaction that writes them.

A decision made in another process (an approval, a rejection, ``swarm cancel``) is a row in the
database; the driver that owns the run applies it. On PostgreSQL the deciding transaction also
sends a notification on :data:`CHANNEL`, which the server delivers only if and when that
transaction commits (never for a rolled-back one), so a driver that LISTENs
(:mod:`swarm.runtime.notify`) reads the decision the moment it is durable. No trigger and no
migration: the two writers that decide call :func:`announce` themselves. SQLite has no such
channel; there the driver polls, as it also does on PostgreSQL while its listener is down.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

CHANNEL = "swarm_decisions"
"""The one channel: every driver on the database hears every run's decisions and keeps its own."""

Kind = Literal["approval", "cancel"]
"""What was decided: an approval gate's decision, or a request to cancel the run."""
KINDS: tuple[Kind, ...] = ("approval", "cancel")


def payload(kind: Kind, run_id: str) -> str:
    """The notification's text: ``kind``, a space, the run id (a run id may hold spaces)."""
    return f"{kind} {run_id}"


def parse(text_: str) -> tuple[Kind, str] | None:
    """``(kind, run_id)`` of a notification's payload, or None for one swarm did not send."""
    kind, _, run_id = text_.partition(" ")
    for known in KINDS:
        if kind == known and run_id:
            return known, run_id
    return None


async def announce(conn: AsyncConnection, kind: Kind, run_id: str) -> None:
    """Notify the run's driver, inside the caller's open transaction (sent at its commit);
    nothing on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANNEL, "payload": payload(kind, run_id)},
    )

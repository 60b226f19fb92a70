"""F5 at the level of a run: Replicate goes down (503 to everything) for three minutes in the
middle of a 57-task run, and the run finishes once it is back, every task on its first attempt:
the provider waits the outage out with capped, jittered backoff instead of failing attempts.

The provider and the fake share a clock running 25 times faster than the wall, so the three
minutes take 7.2 s (at 100 times, a loaded machine's lateness of a tenth of a second looked like
ten seconds and broke the backoff's bounds); the task timeout (ten minutes, the default) is on
the wall and is not approached. The ``replicate`` client's own retries of GETs on a 503 sleep on
the wall clock (0.1 s doubling), so on this clock they look 25 times longer than they are.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from swarm.plan import Plan
from swarm.providers.replicate import ReplicateProvider
from swarm.providers.retry import CREATION_POLICY
from swarm.testing._http import Hit
from swarm.testing.clock import ScaledClock
from swarm.testing.crash import fan_plan
from swarm.testing.fake_predictions import Script, answer_tokens
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate
from tests.fakes import execute_remote

pytestmark = pytest.mark.anyio
SPEED = 25.0
OUTAGE_S = 180.0
NOISE_S = 5.0
"""200 ms of wall-clock lateness under load, as seen at 25 times the speed."""


def gaps_after_failures(hits: list[Hit]) -> list[float]:
    """Per caller, the time from each failed creation to that caller's next one."""
    by_caller: dict[str | None, list[Hit]] = defaultdict(list)
    for hit in hits:
        by_caller[hit.key].append(hit)
    return [
        following.t - this.t
        for attempts in by_caller.values()
        for this, following in itertools.pairwise(attempts)
        if this.status != 201
    ]


@dataclass
class OutageRun:
    """What a run through the outage left: its summary, and what the fake saw (times on the
    scaled clock)."""

    summary: dict[str, Any]
    took_s: float
    hits: list[Hit]
    predictions: set[str]

    @property
    def creations(self) -> list[Hit]:
        return [h for h in self.hits if h.method == "POST" and h.path.endswith("/predictions")]

    @property
    def outage(self) -> tuple[float, float]:
        start = next(h.t for h in self.hits if h.status == 503)
        return start, start + OUTAGE_S

    def first_creation_after(self) -> float:
        """Seconds from the provider's return to the first prediction created after it (by a
        caller that was held back at creation, or one that came later)."""
        end = self.outage[1]
        return min(h.t for h in self.creations if h.status == 201 and h.t >= end) - end


async def run_through_outage(db: Path) -> OutageRun:
    """The fan-out/fan-in plan at concurrency 20, with Replicate answering 503 to everything for
    three minutes from the first request after 10 predictions were created: the root's and
    nine parts, while the other eleven parts of the first wave are being created."""
    clock = ScaledClock(SPEED)
    spec = fan_plan()
    spec["budget"] = {"max_concurrency": 20}
    with FakeReplicate(clock=clock.now) as fake:
        fake.script = lambda inputs: Script(answer_tokens(inputs), token_delay_s=1.0)
        provider = ReplicateProvider(
            FAKE_TOKEN, base_url=fake.base_url, rate_limit=60_000, clock=clock, seed=2
        )
        fake.down(OUTAGE_S, after_creations=10)
        began = clock.now()
        summary = await execute_remote(db, Plan.model_validate(spec), provider, within_s=60)
        return OutageRun(summary, clock.now() - began, list(fake.hits), set(fake.predictions))


async def test_a_run_finishes_after_replicate_is_down_for_three_minutes(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run = await run_through_outage(db)
    assert run.summary["status"] == "succeeded" and run.summary["counts"]["succeeded"] == 57
    assert run.took_s >= OUTAGE_S
    refused = [h for h in run.hits if h.status == 503]
    assert refused and any(h.method == "GET" for h in refused)  # reads failed too
    assert [h for h in run.creations if h.status == 503]  # callers were held at creation
    assert 0 <= run.first_creation_after() <= CREATION_POLICY.cap_s + NOISE_S
    for gap in gaps_after_failures(run.creations):  # capped backoff, never a tight loop
        assert gap <= CREATION_POLICY.cap_s + NOISE_S
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        attempts = conn.execute("SELECT task_id, attempt, status FROM attempts").fetchall()
        calls = conn.execute("SELECT ref, status FROM calls").fetchall()
    assert len(attempts) == 57 and {(a, s) for _, a, s in attempts} == {(1, "succeeded")}
    assert sorted(ref for ref, _ in calls) == sorted(run.predictions)
    assert {status for _, status in calls} == {"succeeded"}

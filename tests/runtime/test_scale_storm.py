"""Issue 8's scale criterion through the real ``replicate`` client: llm tasks at high concurrency
against the fake Replicate server, which fails about 5% of predictions, hangs 1% until the task's
timeout, answers 2% malformed, and throttles half of all creations (``Retry-After: 1``) for a
few seconds starting in the middle of the run.

Every task ends succeeded, or failed/skipped with its reason stored; every attempt failure is
one of the injected faults (none comes from a 429, no timeout from waiting out the storm); no
caller comes back before a 429's ``Retry-After``; every attempt and every prediction is recorded
once; ``PRAGMA integrity_check`` says ok. 1,000 tasks at concurrency 300 is ``slow``; 200 at 100
run by default.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from swarm.plan import Plan
from swarm.providers.replicate import ReplicateProvider
from swarm.testing._http import Hit
from swarm.testing.fake_predictions import RandomFaults, Script, answer_tokens
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate, Fault
from tests.fakes import execute_remote
from tests.providers.test_storm import EARLY_WAKE_S, retries_after_429

pytestmark = pytest.mark.anyio
RETRIES = 3
STORM_S = 3.0
ANSWER_TOKENS = 8
"""At most this many tokens in any of the fake model's answers here."""


def task_timeout(token_delay_s: float) -> float:
    """Twice the longest a call can take: waiting out the storm (its length and a second of
    cooldown), then streaming its whole answer. A hung prediction times out after it."""
    return 2 * (STORM_S + 1.0 + ANSWER_TOKENS * token_delay_s)


def plan(n: int, concurrency: int, timeout_s: float) -> Plan:
    """Tasks that each depend on up to two of the 50 before them (after the first tenth); one
    in ten must answer JSON that fits a schema."""
    rng = random.Random(5)
    tasks = []
    for i in range(n):
        window = range(max(0, i - 50), i)
        k = min(len(window), rng.randint(0, 2))
        deps = rng.sample(list(window), k=k) if i > n // 10 else []
        task: dict[str, object] = {"id": f"t{i}", "kind": "llm", "prompt": f"task {i}"}
        task["deps"] = [f"t{d}" for d in deps]
        if i % 10 == 0:
            task["output_schema"] = {
                "type": "object",
                "properties": {"n": {"type": "integer"}},
                "required": ["n"],
            }
        tasks.append(task)
    return Plan.model_validate(
        {
            "goal": "scale with faults and a 429 storm",
            "defaults": {"timeout_s": timeout_s, "retries": RETRIES},
            "budget": {"max_concurrency": concurrency, "max_steps": 10 * n},
            "tasks": tasks,
        }
    )


def answering(token_delay_s: float) -> Callable[[dict[str, Any]], Script]:
    """The fake model: JSON when the prompt asks for it, else its echo."""

    def answer(inputs: dict[str, Any]) -> Script:
        if "JSON Schema" in str(inputs.get("prompt", "")):
            return Script(['{"n": ', "7}"], token_delay_s=token_delay_s)
        return Script(answer_tokens(inputs), token_delay_s=token_delay_s)

    return answer


@dataclass
class Seen:
    """What the fake saw, copied before it stops."""

    creation_attempts: list[Hit]
    predictions: set[str]
    drawn: Counter[str]
    peak_streams: int
    wall_s: float


async def run_at_scale(
    db: Path, n: int, concurrency: int, token_delay_s: float
) -> tuple[dict[str, Any], Seen]:
    """Run the plan against a fake whose predictions stream a token every ``token_delay_s``."""
    with FakeReplicate() as fake:
        fake.script = answering(token_delay_s)
        # seed 7: the first 200 draws already hold several faults of each kind
        faults = RandomFaults(failed=0.05, hang=0.01, malformed=0.02, seed=7)
        fake.prediction_faults = faults
        fake.storm(0.5, STORM_S, Fault(429, retry_after="1"), seed=9, after_creations=2 * n // 5)
        provider = ReplicateProvider(FAKE_TOKEN, base_url=fake.base_url, rate_limit=60_000, seed=1)
        started = time.perf_counter()
        summary = await execute_remote(
            db, plan(n, concurrency, task_timeout(token_delay_s)), provider, within_s=240
        )
        seen = Seen(
            fake.creation_attempts(),
            set(fake.predictions),
            Counter(faults.drawn),
            fake.peak_streams,
            time.perf_counter() - started,
        )
    return summary, seen


def check(db: Path, summary: dict[str, Any], seen: Seen, n: int) -> None:
    counts = summary["counts"]
    assert counts["succeeded"] + counts["failed"] + counts["skipped"] == n
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tasks = conn.execute("SELECT task_id, status, attempt, error FROM tasks").fetchall()
        attempts = conn.execute("SELECT status, error_kind, error FROM attempts").fetchall()
        calls = conn.execute("SELECT ref, status FROM calls").fetchall()
        shared = conn.execute(
            "SELECT count(*) FROM (SELECT ref FROM steps WHERE ref IS NOT NULL"
            " GROUP BY ref HAVING count(*) > 1)"
        ).fetchone()[0]
    for task_id, status, attempt, error in tasks:
        assert status in ("succeeded", "failed", "skipped"), task_id
        assert attempt <= RETRIES + 1, task_id
        if status != "succeeded":
            assert error, f"{task_id} is {status} without a stated reason"
    assert len(attempts) == sum(a for _, _, a, _ in tasks)  # every attempt recorded once
    # Every attempt that did not succeed is an injected fault: none is a 429, and no timeout
    # comes from waiting out the storm (one timeout per hung prediction, no more).
    outcomes = Counter((status, kind) for status, kind, _ in attempts if status != "succeeded")
    throttled = [e for _, k, e in attempts if k == "RateLimited" or "HTTP 429" in (e or "")]
    assert throttled == []
    assert outcomes[("timeout", "TaskTimeout")] == seen.drawn["hang"] > 0
    assert outcomes[("failed", "ProviderError")] == seen.drawn["failed"] > 0
    assert outcomes[("failed", "OutputError")] <= seen.drawn["malformed"] // 3
    assert set(outcomes) <= {
        ("timeout", "TaskTimeout"),
        ("failed", "ProviderError"),
        ("failed", "OutputError"),
    }
    assert seen.drawn["malformed"] > 0
    # Every prediction the fake created was journaled once, and its end recorded.
    assert sorted(ref for ref, _ in calls) == sorted(seen.predictions)
    assert all(status is not None for _, status in calls) and shared == 0
    # The storm came in the middle, and no caller came back before its Retry-After.
    statuses = [h.status for h in seen.creation_attempts]
    assert statuses.count(429) >= 2  # about one a second: each 429 pauses every caller for 1 s
    assert statuses[: statuses.index(429)].count(201) >= 2 * n // 5
    assert statuses[len(statuses) - statuses[::-1].index(429) :].count(201) > 0
    gaps = retries_after_429(seen.creation_attempts)
    assert gaps and all(back >= at + wait - EARLY_WAKE_S for at, wait, back in gaps)


async def test_two_hundred_tasks_at_concurrency_100_ride_out_faults_and_a_storm(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    summary, seen = await run_at_scale(db, 200, 100, token_delay_s=0.05)
    check(db, summary, seen, 200)


@pytest.mark.slow
async def test_a_thousand_tasks_at_concurrency_300_ride_out_faults_and_a_storm(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    # Tokens 0.5 s apart: a prediction streams for about three seconds, so all 300 calls can
    # be streaming at once.
    summary, seen = await run_at_scale(db, 1000, 300, token_delay_s=0.5)
    check(db, summary, seen, 1000)
    assert seen.peak_streams >= 200  # the fake and the client held hundreds of streams at once

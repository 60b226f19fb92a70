"""A provider that forgot its predictions (restarted; issue 16, defect 7): the 404 to a GET of a
prediction swarm created is retryable, and the call creates the prediction again — the real
``replicate`` client against the fake server, restarted mid-run."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import anyio
import pytest

from swarm.errors import ProviderError
from swarm.providers.base import ModelRequest
from swarm.providers.replicate import MAX_LOST, ReplicateProvider
from swarm.testing.fake_predictions import Script
from swarm.testing.fake_replicate import FakeReplicate, Fault
from swarm.testing.journal import MemoryJournal
from tests.cli.conftest import CliRunner

pytestmark = pytest.mark.anyio


def ask(prompt: str, journal: MemoryJournal | None = None, key: str = "run/t/1/1") -> ModelRequest:
    return ModelRequest(model="moonshotai/kimi-k2.6", prompt=prompt, call_key=key, journal=journal)


async def test_a_forgotten_prediction_is_created_again(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    fake.script = lambda inputs: Script(["a", "b", "c"], token_delay_s=0.05)
    fake.restart(after_creations=4)  # forgets the first four once they all exist
    journals = [MemoryJournal() for _ in range(4)]
    texts: list[str] = []

    async def one(i: int) -> None:
        texts.append((await provider.complete(ask(f"q{i}", journals[i], f"r/t{i}/1/1"))).text)

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
    assert texts == ["abc"] * 4
    assert len(fake.forgotten) == 4 and len(fake.creations) == 8
    for journal in journals:
        (lost,) = [ref for ref, status in journal.ended.items() if status == "lost"]
        assert lost in fake.forgotten
        events = [e[0] for e in journal.events]
        assert events == ["intended", "created", "lost", "intended", "created", "succeeded"]


async def test_a_prediction_forgotten_again_and_again_fails_retryably(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    fake.script = lambda inputs: Script(["a", "b", "c"], token_delay_s=0.2)

    async def forget_each() -> None:
        seen = 0
        while True:
            if len(fake.creations) > seen:
                seen = len(fake.creations)
                await anyio.sleep(0.05)
                fake.restart()
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(forget_each)
        with pytest.raises(ProviderError, match="no longer knows prediction") as info:
            await provider.complete(ask("q"))
        tg.cancel_scope.cancel()
    assert info.value.retryable and info.value.status == 404
    assert len(fake.creations) == MAX_LOST + 1


def test_a_run_through_a_restart_of_the_provider_succeeds(
    cli: CliRunner,
    replicate_env: FakeReplicate,
    tmp_path: Path,
) -> None:
    """The issue's case: Replicate is down for a while, then comes back without the predictions
    in flight. Every task succeeds on its first attempt; nothing is skipped."""
    fake = replicate_env
    fake.script = lambda inputs: Script(["x"] * 10, token_delay_s=0.05)
    tasks = [{"id": "root", "kind": "llm", "prompt": "root"}]
    tasks += [{"id": f"w{i}", "kind": "llm", "prompt": f"w{i}", "deps": ["root"]} for i in range(8)]
    tasks += [{"id": "end", "kind": "llm", "prompt": "end", "deps": [f"w{i}" for i in range(8)]}]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"goal": "restart", "tasks": tasks}))
    fake.down(0.5, Fault(503), after_creations=4)
    fake.restart(after_creations=4)
    db = tmp_path / "s.db"
    result = cli(
        "execute", plan, "--provider", "replicate", "--db", db, "--json",
        "--artifacts-dir", tmp_path / "runs", "--rate-limit", "60000",
    )  # fmt: skip
    assert result.code == 0, result.err
    counts = {k: v for k, v in json.loads(result.out)["counts"].items() if v}
    assert counts == {"succeeded": 10}
    assert fake.forgotten
    with sqlite3.connect(db) as conn:
        attempts = conn.execute("SELECT max(attempt) FROM tasks").fetchone()[0]
        lost = {r for (r,) in conn.execute("SELECT ref FROM calls WHERE status = 'lost'")}
        unended = conn.execute("SELECT count(*) FROM calls WHERE status IS NULL").fetchone()[0]
    assert attempts == 1
    assert lost and lost <= set(fake.forgotten)  # the ones still running when it restarted
    assert unended == 0

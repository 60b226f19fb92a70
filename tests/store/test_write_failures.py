"""What the writer does when a write fails: errors that say what happened (issue 16, defect 9),
and one op's unstorable data that must not stop the writer (defect 5, the writer's half)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.errors import StoreError
from swarm.store import Store
from swarm.store import writer as writer_module
from swarm.store.ops import Op, RunCreated, StepRecord
from tests.store.builders import finished, new_run, started

pytestmark = pytest.mark.anyio


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_a_lone_surrogate_in_a_result_is_stored_repaired_and_the_writer_goes_on(
    store: Store, db_path: Path
) -> None:
    """Before: ``UnicodeEncodeError`` out of the writer, the run left running, and the same
    answer again on every resume."""
    await store.create_run(new_run(n_tasks=2))
    seen: list[Op] = []
    writer = store.writer(seen.extend)
    step = StepRecord(1, "model", "m\ud83d", 0.0, 0.1, detail={"k\udc00": "v"})
    bad = replace(finished("t0"), result='{"label": "x\ud800y"}', steps=(step,))
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        writer.submit(started("t0"))
        writer.submit(started("t1"))
        writer.submit(bad)
        await writer.flush()
        writer.submit(replace(finished("t1"), result="fine"))  # the writer still takes work
        await writer.flush()
        writer.close()
    assert _rows(db_path, "SELECT task_id, status, result FROM tasks ORDER BY task_id") == [
        ("t0", "succeeded", '{"label": "x\ufffdy"}'),
        ("t1", "succeeded", "fine"),
    ]
    (error,) = _rows(db_path, "SELECT error FROM tasks WHERE task_id = 't0'")[0]
    assert "UnicodeEncodeError" in error and "U+FFFD" in error
    assert _rows(db_path, "SELECT name FROM steps ORDER BY id") == [("m\ufffd",), ("sim",)]
    (note,) = _rows(
        db_path, "SELECT task_id, data_json FROM events WHERE type = 'store.data_repaired'"
    )
    assert note[0] == "t0" and json.loads(note[1])["op"] == "AttemptFinished"
    assert [type(op).__name__ for op in seen].count("Event") == 1  # the note is reported too


async def test_an_integer_past_64_bits_is_clamped_not_fatal(store: Store, db_path: Path) -> None:
    await store.create_run(new_run(n_tasks=1))
    writer = store.writer(lambda _: None)
    await writer.write_now([started("t0"), replace(finished("t0"), tokens_in=2**70)])
    assert _rows(db_path, "SELECT tokens_in FROM attempts") == [(2**63 - 1,)]


async def test_a_broken_constraint_is_not_called_a_full_disk(store: Store) -> None:
    """The attempts row of the same attempt twice (what the stale driver of defect 1 did)."""
    await store.create_run(new_run(n_tasks=1))
    writer = store.writer(lambda _: None)
    await writer.write_now([started("t0"), finished("t0", task_status="pending", error="x")])
    with pytest.raises(StoreError, match="broke a database constraint") as got:
        await writer.write_now([started("t0"), finished("t0")])
    assert "UNIQUE constraint failed: attempts" in str(got.value)
    assert "disk" not in str(got.value)
    assert "resume the run" in str(got.value)


async def test_a_full_disk_says_so(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's ``max_page_count`` gives the real SQLITE_FULL a full disk gives."""
    await store.create_run(new_run(n_tasks=1))
    pages = _rows(db_path, "PRAGMA page_count")[0][0]
    connect = writer_module.connect_for_writing

    def small_disk(file: str | Path) -> sqlite3.Connection:
        conn = connect(file)
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    monkeypatch.setattr(writer_module, "connect_for_writing", small_disk)
    writer = store.writer(lambda _: None)
    with pytest.raises(StoreError, match="the disk is full") as got:
        await writer.write_now([started("t0"), replace(finished("t0"), result="x" * 200_000)])
    assert "free disk space" in str(got.value) and "constraint" not in str(got.value)


async def test_a_run_that_was_never_recorded_is_not_offered_a_resume(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> set[int]:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    writer = store.writer(lambda _: None, fence=("r9", 1))
    await writer.open(new_run_id="r9")
    monkeypatch.setattr(writer_module, "_apply", refuse)
    with pytest.raises(StoreError, match="the database is read-only") as got:
        await writer.write_now([RunCreated(new_run("r9"))])
    text = str(got.value)
    assert "never recorded" in text and "resume" not in text

"""A column added to ``schema.py`` reaches both writers with no other edit (a real database)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from swarm.store import Store
from swarm.store.copy import copy_runs
from swarm.store.ops import TasksRecorded
from swarm.store.records import NewTask
from tests.store.builders import new_run

CONFORMANCE = True

_SCRIPT = """
import dataclasses, json, sys
import anyio
from sqlalchemy import Column, Text
from swarm.store import schema
schema.attempts.append_column(Column("result", Text))  # the one edit: a column of the table
from swarm.store import Store
from swarm.store.copy import copy_runs
from tests.store.builders import finished, new_run, started

async def main(url):
    store = await Store.open(url)
    async with store.engine.begin() as conn:  # the database as a migration would leave it
        await conn.exec_driver_sql("ALTER TABLE attempts ADD COLUMN result TEXT")
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda ops: None)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        two = dataclasses.replace(finished("t1"), result="two")
        for op in (started("t0"), finished("t0"), started("t1"), two):
            writer.submit(op)
        await writer.flush()
        writer.close()
    async with store.engine.connect() as conn:
        found = await conn.exec_driver_sql("SELECT task_id, result FROM attempts ORDER BY 1")
        print(json.dumps([list(row) for row in found.all()]))
    await store.close()

anyio.run(main, sys.argv[1])
"""


def test_a_column_added_to_attempts_is_written_by_the_writer(store_url: str | Path) -> None:
    """``attempts.result`` does not exist; added to ``schema.attempts`` alone, the writer of
    either backend stores each attempt's result in it (from ``AttemptFinished.result``)."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(store_url)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [["t0", "ok"], ["t1", "two"]]


@pytest.mark.anyio
async def test_tasks_are_listed_in_the_order_they_were_created(store: Store) -> None:
    """``tasks.seq``: creation order on both backends, whatever the priorities, across the
    run's first rows, rows the writer adds later and a second run beside it."""
    run = new_run(n_tasks=3)
    low_first = tuple(t._replace(priority=float(i)) for i, t in enumerate(run.tasks))
    await store.create_run(dataclasses.replace(run, tasks=low_first))
    await store.create_run(new_run("r2", n_tasks=2))
    later = (NewTask("b", "llm", (), 9.0), NewTask("a", "llm", (), 0.0))
    writer = store.writer(lambda ops: None)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        writer.submit(TasksRecorded(run_id="r1", tasks=later[:1]))
        await writer.flush()
        writer.submit(TasksRecorded(run_id="r1", tasks=later[1:]))
        await writer.flush()
        writer.close()
    assert [t.task_id for t in await store.load_tasks("r1")] == ["t0", "t1", "t2", "b", "a"]
    async with store.engine.connect() as conn:
        found = await conn.exec_driver_sql("SELECT run_id, task_id FROM tasks ORDER BY run_id, seq")
        assert [tuple(row) for row in found] == [
            ("r1", "t0"), ("r1", "t1"), ("r1", "t2"), ("r1", "b"), ("r1", "a"),
            ("r2", "t0"), ("r2", "t1"),
        ]  # fmt: skip


@pytest.mark.anyio
async def test_a_copied_run_keeps_its_order_when_tasks_are_added(
    store_url: str | Path, tmp_path: Path
) -> None:
    """A copy is numbered afresh: its tasks' numbers from the source (here far above the
    target's rows) would put a task added at the target before them."""
    source = await Store.open(tmp_path / "source.db")
    target = await Store.open(store_url)
    try:
        await source.create_run(new_run("big", n_tasks=50))
        await source.create_run(new_run("r1", n_tasks=3))
        await copy_runs(source, target, ["r1"])
        writer = target.writer(lambda ops: None)
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            writer.submit(TasksRecorded(run_id="r1", tasks=(NewTask("late", "llm", (), 0.0),)))
            await writer.flush()
            writer.close()
        assert [t.task_id for t in await target.load_tasks("r1")] == ["t0", "t1", "t2", "late"]
    finally:
        await source.close()
        await target.close()

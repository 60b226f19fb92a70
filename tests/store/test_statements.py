"""A column added to ``schema.py`` reaches both writers with no other edit (a real database)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONFORMANCE = True

_SCRIPT = """
import dataclasses, json, sys
import anyio
from sqlalchemy import Column, Text
from swarm.store import schema
schema.attempts.append_column(Column("result", Text))  # the one edit: a column of the table
from swarm.store import Store
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

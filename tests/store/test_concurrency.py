"""Two processes writing two runs into one database file, with a reader alongside (fault F9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import swarm.store
from swarm.store import Store

pytestmark = pytest.mark.anyio
CONFORMANCE = True

N_TASKS = 600

CHILD = """
import os, sys, time
import anyio
from swarm.store import Store
from swarm.store.ops import AttemptFinished, AttemptStarted, RunFinished, RunStarted, StepRecord
from swarm.store.records import NewRun, NewTask

async def main(path: str, run_id: str, n: int) -> None:
    store = await Store.open(path)
    try:
        tasks = tuple(NewTask(f"t{i}", "llm", (), 1.0) for i in range(n))
        await store.create_run(NewRun(run_id, "goal", "{}", {}, time.time(), tasks))
        writer = store.writer(lambda batch: None)
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            writer.submit(RunStarted(run_id, time.time(), os.getpid(), False))
            for i in range(n):
                now = time.time()
                writer.submit(AttemptStarted(run_id, f"t{i}", 1, now, 3))
                await writer.flush()  # one small transaction after another: maximum contention
                step = StepRecord(1, "model", "sim", now, 0.001, 5, 7, 0.001)
                writer.submit(AttemptFinished(run_id, f"t{i}", 1, now, time.time(), "succeeded",
                                              "succeeded", result="ok", steps=(step,)))
                await writer.flush()
            writer.submit(RunFinished(run_id, "succeeded", time.time()))
            writer.close()
    finally:
        await store.close()

anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
"""


def _spawn(db: str | Path, run_id: str) -> subprocess.Popen[str]:
    root = str(Path(swarm.store.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), run_id, str(N_TASKS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(60)
async def test_two_writer_processes_and_a_reader_share_one_file(store_url: str | Path) -> None:
    children = [_spawn(store_url, "run-a"), _spawn(store_url, "run-b")]
    try:
        store = await Store.open(store_url)  # races the children's migrations on a fresh one
        reads = 0
        try:
            while any(child.poll() is None for child in children):
                for run in await store.list_runs():
                    await store.counts(run.run_id)
                    await store.totals(run.run_id)
                    await store.load_tasks(run.run_id)
                    reads += 1
                await anyio.sleep(0.01)
            outputs = [child.communicate() for child in children]
            for child, (_, err) in zip(children, outputs, strict=True):
                assert child.returncode == 0, err
                assert "locked" not in err
            for run_id in ("run-a", "run-b"):
                assert (await store.load_run(run_id)).status == "succeeded"
                assert (await store.counts(run_id))["succeeded"] == N_TASKS
                assert (await store.totals(run_id))["steps_total"] == N_TASKS
            async with store.engine.connect() as conn:
                for table, per_run in (
                    ("attempts", N_TASKS),
                    ("steps", N_TASKS),
                    ("events", 2 * N_TASKS + 3),
                ):
                    rows = await conn.exec_driver_sql(
                        f"SELECT run_id, count(*) FROM {table} GROUP BY run_id ORDER BY run_id"
                    )
                    assert [tuple(r) for r in rows] == [("run-a", per_run), ("run-b", per_run)]
                if not store.postgres:
                    check = await conn.exec_driver_sql("PRAGMA integrity_check")
                    assert check.scalar() == "ok"
        finally:
            await store.close()
        assert reads > 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

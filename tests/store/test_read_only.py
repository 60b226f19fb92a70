"""A database on a read-only file system (or a read-only file in a read-only folder): the read
commands work, the writes refuse with a hint that says read-only (issue 16, defect 9)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swarm.errors import StoreError
from swarm.store import Store
from swarm.store.queries import Queries
from tests.store.builders import new_run

pytestmark = pytest.mark.anyio


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _mount_cleanup(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
async def read_only_db(tmp_path: Path) -> AsyncIterator[Path]:
    """A database with one run ``r1``, then made read-only (with its folder)."""
    work = tmp_path / "work"
    work.mkdir()
    store = await Store.open(work / "s.db")
    await store.create_run(new_run(n_tasks=3))
    await store.close()
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = os.geteuid() == 0 and _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder))
    try:
        for item in work.iterdir():
            shutil.copy2(item, folder / item.name)
        if mounted:
            assert _mount("-o", "remount,ro", str(folder))
        elif os.geteuid() != 0:
            for item in folder.iterdir():
                item.chmod(0o444)
            folder.chmod(0o555)
        else:
            pytest.skip("cannot make a read-only folder as root without mount")
        yield folder / "s.db"
    finally:
        if mounted:
            _mount_cleanup(folder)
        else:
            folder.chmod(0o755)


async def test_reads_work_on_a_read_only_database(read_only_db: Path) -> None:
    store = await Store.open(read_only_db)
    try:
        assert store.read_only
        assert (await store.load_run("r1")).goal == "test goal"
        assert [t.task_id for t in await store.load_tasks("r1")] == ["t0", "t1", "t2"]
        assert [r.run_id for r in await Queries(store).runs()] == ["r1"]
        assert len((await Queries(store).detail("r1")).tasks) == 3
        with pytest.raises(StoreError, match="read-only") as got:
            store.writer(lambda _: None)
        assert "read commands" in str(got.value) and "folder" not in got.value.message
        with pytest.raises(StoreError, match="read-only"):
            await store.request_cancel("r1")
    finally:
        await store.close()
    assert sorted(p.name for p in read_only_db.parent.iterdir()) == ["s.db"]


def _swarm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SWARM_DB", "SWARM_PROVIDER")}
    return subprocess.run(
        [sys.executable, "-m", "swarm.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


async def test_the_cli_reads_a_read_only_database_and_refuses_to_run_on_it(
    read_only_db: Path, tmp_path: Path
) -> None:
    """Before: every command said "point --db at a SQLite file in an existing folder", and
    ``execute`` said "the run can be resumed" of a run it never recorded."""
    listed = _swarm("runs", "--db", str(read_only_db))
    assert listed.returncode == 0, listed.stderr
    assert "r1" in listed.stdout
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"goal": "g", "tasks": [{"id": "a", "kind": "llm", "prompt": "p"}]}))
    ran = _swarm(
        "execute", str(plan), "--db", str(read_only_db), "--run-id", "x", "--provider", "sim"
    )
    assert ran.returncode != 0
    assert "read-only" in ran.stderr
    assert "can be resumed" not in ran.stderr and "resume the run" not in ran.stderr
    assert "existing folder" not in ran.stderr
    with sqlite3.connect(f"file:{read_only_db}?mode=ro&immutable=1", uri=True) as conn:
        assert conn.execute("SELECT run_id FROM runs").fetchall() == [("r1",)]

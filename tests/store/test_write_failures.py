"""What the writer does when a write fails: errors that say what happened (issue 16, defect 9),
and one op's unstorable data that must not stop the writer (defect 5, the writer's half).

Part of the conformance suite: each backend finds the op it cannot store, stores it repaired
with a ``store.data_repaired`` event and goes on. What each cannot store differs: SQLite takes
a NUL and 64-bit integers; PostgreSQL's ``text`` takes no NUL and its ``integer`` 32 bits."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from swarm.errors import StoreError
from swarm.store import Store
from swarm.store import writer as writer_module
from swarm.store.ops import Op, RunCreated, StepRecord
from tests.store.builders import finished, new_run, started

pytestmark = pytest.mark.anyio
CONFORMANCE = True
SQLITE_ONLY = {
    "test_a_full_disk_says_so",  # SQLite's max_page_count; a server's disk is not ours to fill
    "test_a_run_that_was_never_recorded_is_not_offered_a_resume",  # a sqlite3 error injected
}
"""SQLite's own machinery; PostgreSQL's failures have their own tests at the end."""


async def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    async with store.engine.connect() as conn:
        return [tuple(row) for row in (await conn.exec_driver_sql(sql)).all()]


async def _repairs(store: Store) -> list[tuple[str, str]]:
    """(task, op) of each ``store.data_repaired`` event."""
    found = await _rows(
        store, "SELECT task_id, data_json FROM events WHERE type = 'store.data_repaired'"
    )
    return [(task, json.loads(data)["op"]) for task, data in found]


async def test_a_lone_surrogate_in_a_result_is_stored_repaired_and_the_writer_goes_on(
    store: Store,
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
    assert await _rows(store, "SELECT task_id, status, result FROM tasks ORDER BY task_id") == [
        ("t0", "succeeded", '{"label": "x\ufffdy"}'),
        ("t1", "succeeded", "fine"),
    ]
    (error,) = (await _rows(store, "SELECT error FROM tasks WHERE task_id = 't0'"))[0]
    assert "surrogate" in error and "U+FFFD" in error
    assert await _rows(store, "SELECT name FROM steps ORDER BY id") == [("m\ufffd",), ("sim",)]
    assert await _repairs(store) == [("t0", "AttemptFinished")]
    assert [type(op).__name__ for op in seen].count("Event") == 1  # the note is reported too


async def test_only_the_op_that_cannot_be_stored_is_changed(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda _: None)
    good = replace(finished("t1"), result="intact \u00e9\u4e2d")
    await writer.write_now(
        [started("t0"), started("t1"), replace(finished("t0"), result="x\udfffy"), good]
    )
    found = await _rows(store, "SELECT task_id, result, error FROM tasks ORDER BY task_id")
    assert [row[:2] for row in found] == [("t0", "x\ufffdy"), ("t1", "intact \u00e9\u4e2d")]
    assert "U+FFFD" in found[0][2] and found[1][2] is None  # the note is the bad op's alone
    assert await _repairs(store) == [("t0", "AttemptFinished")]


async def test_an_integer_past_64_bits_is_clamped_not_fatal(store: Store, backend: str) -> None:
    await store.create_run(new_run(n_tasks=1))
    writer = store.writer(lambda _: None)
    await writer.write_now([started("t0"), replace(finished("t0"), tokens_in=2**70)])
    # 64 bits on both: SQLite's INTEGER, PostgreSQL's bigint (migration 0008)
    assert await _rows(store, "SELECT tokens_in FROM attempts") == [(2**63 - 1,)]
    assert await _repairs(store) == [("t0", "AttemptFinished")]


async def test_sums_of_64_bit_counts_are_whole_numbers_on_both(store: Store) -> None:
    """PostgreSQL's SUM over a ``bigint`` is a ``numeric``: it reads as an ``int``, as on SQLite
    (a ``Decimal`` made ``swarm resume --json`` fail), and the store's totals are exact."""
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda _: None)
    big = [replace(finished(t), tokens_in=2**40) for t in ("t0", "t1")]
    await writer.write_now([started("t0"), started("t1"), *big])
    (total,) = (await _rows(store, "SELECT SUM(tokens_in) FROM attempts"))[0]
    assert type(total) is int and total == 2**41
    assert (await store.totals("r1"))["tokens_in"] == 2**41
    json.dumps(await store.task_totals("r1"))


async def test_what_one_backend_cannot_hold_is_repaired_there_and_kept_on_the_other(
    store: Store, backend: str
) -> None:
    """A NUL and an integer past 32 bits: SQLite stores both as they are; PostgreSQL's
    ``text`` cannot hold the NUL, so there it is repaired (before: the NUL stopped the
    PostgreSQL writer, on every resume), and its ``bigint`` keeps the integer whole (an
    ``integer`` clamped it, before migration 0008)."""
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda _: None)
    nul = StepRecord(1, "tool", "read\x00file", 0.0, 0.1, detail={"out": "a\x00b"})
    await writer.write_now(
        [
            started("t0"),
            started("t1"),
            replace(finished("t0"), result="r\x00", steps=(nul,)),
            replace(finished("t1"), tokens_out=2**40),
        ]
    )
    results = await _rows(store, "SELECT task_id, status, result FROM tasks ORDER BY task_id")
    tokens = await _rows(store, "SELECT task_id, tokens_out FROM attempts ORDER BY task_id")
    names = await _rows(store, "SELECT name FROM steps ORDER BY id")
    if backend == "sqlite":
        assert results == [("t0", "succeeded", "r\x00"), ("t1", "succeeded", "ok")]
        assert tokens == [("t0", 20), ("t1", 2**40)]
        assert names[0] == ("read\x00file",)
        assert await _repairs(store) == []
    else:
        assert results == [("t0", "succeeded", "r\ufffd"), ("t1", "succeeded", "ok")]
        assert tokens == [("t0", 20), ("t1", 2**40)]
        assert names[0] == ("read\ufffdfile",)
        assert await _repairs(store) == [("t0", "AttemptFinished")]


async def test_a_broken_constraint_is_not_called_a_full_disk(store: Store) -> None:
    """The attempts row of the same attempt twice (what the stale driver of defect 1 did)."""
    await store.create_run(new_run(n_tasks=1))
    writer = store.writer(lambda _: None)
    await writer.write_now([started("t0"), finished("t0", task_status="pending", error="x")])
    with pytest.raises(StoreError, match="broke a database constraint") as got:
        await writer.write_now([started("t0"), finished("t0")])
    assert "attempts" in str(got.value)  # the constraint's table, in either's words
    assert "disk" not in str(got.value)
    assert "resume the run" in str(got.value)


async def test_a_full_disk_says_so(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's ``max_page_count`` gives the real SQLITE_FULL a full disk gives."""
    await store.create_run(new_run(n_tasks=1))
    pages = (await _rows(store, "PRAGMA page_count"))[0][0]
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


# -- PostgreSQL's own failures ---------------------------------------------------------------


async def _psql(store: Store, sql: str) -> None:
    async with store.engine.connect() as conn:
        await conn.exec_driver_sql(sql)
        await conn.commit()


async def test_a_read_only_postgres_database_says_so_and_a_new_run_is_not_offered_a_resume(
    postgres_url: str,
) -> None:
    store = await Store.open(postgres_url)
    try:
        name = postgres_url.rsplit("/", 1)[1]
        await _psql(store, f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        writer = store.writer(lambda _: None, fence=("r9", 1))
        await writer.open(new_run_id="r9")  # a new connection: read-only from its start
        with pytest.raises(StoreError, match="the database is read-only") as got:
            await writer.write_now([RunCreated(new_run("r9"))])
    finally:
        await store.close()
    text = str(got.value)
    assert "primary" in text and "never recorded" in text and "resume" not in text


async def test_a_lost_connection_to_the_server_says_so(postgres_url: str) -> None:
    """The server ends the running writer's session between two commits."""
    failures: list[StoreError] = []
    store = await Store.open(postgres_url)
    try:
        await store.create_run(new_run(n_tasks=1))
        writer = store.writer(lambda _: None)

        async def run_writer(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            try:
                await writer.run(task_status=task_status)
            except StoreError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            await tg.start(run_writer)
            writer.submit(started("t0"))
            await writer.flush()
            await _psql(
                store,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            writer.submit(finished("t0"))
            with pytest.raises(StoreError):
                await writer.flush()
    finally:
        await store.close()
    (error,) = failures
    text = str(error)
    assert "lost" in text or "shut down" in text, text
    assert "disk" not in text and "resume the run" in text
    again = await Store.open(postgres_url)
    try:  # nothing half-written: the result was not, the start was
        assert await _rows(again, "SELECT status FROM tasks") == [("running",)]
    finally:
        await again.close()


@pytest.mark.parametrize(
    ("sqlstate", "said"),
    [
        ("23505", "broke a database constraint"),
        ("53100", "disk is full"),
        ("53300", "out of resources"),
        ("25006", "read-only"),
        ("42501", "may not write"),
        ("57P01", "shut down or restarted"),
        ("08006", "connection to the database server was lost"),
        ("40P01", "deadlock"),
        ("57014", "statement was cancelled"),
        ("XX000", "refused the write"),
    ],
)
def test_each_server_error_class_is_named(sqlstate: str, said: str) -> None:
    from swarm.store.pg_failures import pg_write_error

    class ServerError(Exception):
        pass

    exc = ServerError("the server's words")
    exc.sqlstate = sqlstate  # type: ignore[attr-defined]
    error = pg_write_error(exc, "postgresql://h/db", 3, recorded=True)
    assert said in str(error) and "the server's words" in str(error)
    assert "the last 3 operation(s) were not saved" in str(error)

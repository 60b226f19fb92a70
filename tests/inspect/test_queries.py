"""Read-side queries over a real recorded run, and the store's cancel and metrics records."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import anyio
import pytest

from swarm.errors import RunNotFound
from swarm.store.copy import copy_runs
from swarm.store.queries import Queries
from swarm.store.store import Store
from swarm.store.views import VIEWS
from tests.inspect.conftest import HOSTILE_ERROR, SOURCES, RecordedRun

pytestmark = pytest.mark.anyio


async def open_queries(db: str | Path) -> tuple[Store, Queries]:
    store = await Store.open(db)
    return store, Queries(store)


@pytest.fixture(scope="session")
def recorded_on_postgres(recorded: RecordedRun, request: pytest.FixtureRequest) -> RecordedRun:
    """The recorded run, copied whole into a PostgreSQL database (``swarm db copy``)."""
    server = request.getfixturevalue("postgres_server")
    url = server.create_database("inspect_queries")

    async def copy() -> None:
        source, target = await Store.open(recorded.db), await Store.open(url)
        try:
            await copy_runs(source, target)
        finally:
            await source.close()
            await target.close()

    anyio.run(copy)
    return dataclasses.replace(recorded, db=url)


@pytest.fixture(params=["sqlite", "postgres"])
def on_both(request: pytest.FixtureRequest, recorded: RecordedRun) -> RecordedRun:
    """The conformance suite's queries: the same recorded run on each backend."""
    if request.param == "postgres":
        return request.getfixturevalue("recorded_on_postgres")  # type: ignore[no-any-return]
    return recorded


async def test_runs_and_one_run(on_both: RecordedRun) -> None:
    recorded = on_both
    store, q = await open_queries(recorded.db)
    try:
        (run,) = await q.runs()
        assert run == await q.run(recorded.run_id)
        assert run.status == "failed" and run.tasks == SOURCES + 6
        assert run.counts["succeeded"] == SOURCES + 4
        assert run.counts["failed"] == 1 and run.counts["skipped"] == 1
        assert run.attempts == SOURCES + 6  # flaky twice, after-boom never
        assert run.tokens == run.tokens_in + run.tokens_out > 0
        assert run.concurrency == 4 and run.duration_s is not None and run.duration_s > 0
        assert run.summary is not None and run.summary["metrics"]["concurrency"] == 4
    finally:
        await store.close()


async def test_detail_tasks_and_active_time(on_both: RecordedRun) -> None:
    recorded = on_both
    store, q = await open_queries(recorded.db)
    try:
        detail = await q.detail(recorded.run_id)
        tasks = {t.task_id: t for t in detail.tasks}
        async with store.engine.connect() as conn:  # creation order, on both backends
            plan = json.loads((await conn.exec_driver_sql("SELECT plan_json FROM runs")).scalar())
        assert list(tasks) == [t["id"] for t in plan["tasks"]]
        assert tasks["merge"].deps[-2:] == ("flaky", "hostile")
        assert tasks["flaky"].attempts == 2 and tasks["flaky"].status == "succeeded"
        # work counts both attempts of flaky; duration only the last one
        duration = tasks["flaky"].duration_s
        assert duration is not None and tasks["flaky"].work_s > duration
        assert tasks["boom"].error is not None and HOSTILE_ERROR in tasks["boom"].error
        assert tasks["after-boom"].status == "skipped" and tasks["after-boom"].work_s == 0.0
        assert 0 < detail.active_s <= (detail.run.duration_s or 0) + 1e-6
        assert detail.artifacts_dir == str(recorded.folder)
        assert [a.path for a in detail.artifacts] == [recorded.artifact]
    finally:
        await store.close()


async def test_events_attempts_and_steps(on_both: RecordedRun) -> None:
    recorded = on_both
    store, q = await open_queries(recorded.db)
    try:
        events = await q.events(recorded.run_id)
        assert events[0].type == "run.created" and events[-1].type == "run.finished"
        assert [e.id for e in events] == sorted(e.id for e in events)
        later = await q.events(recorded.run_id, after_id=events[-3].id)
        assert later == events[-2:]
        assert len(await q.events(recorded.run_id, limit=5)) == 5
        assert await q.events(recorded.run_id, after_id=events[-1].id) == []
        attempts = await q.attempts(recorded.run_id)
        flaky = [a for a in attempts if a.task_id == "flaky"]
        assert [(a.attempt, a.status, a.retryable) for a in flaky] == [
            (1, "failed", True),
            (2, "succeeded", None),
        ]
        steps = await q.steps(recorded.run_id)
        assert {s.kind for s in steps} == {"model"}
        assert sum(1 for s in steps if s.task_id == "flaky") == 2
    finally:
        await store.close()


async def test_unknown_run_ids_are_refused(recorded: RecordedRun) -> None:
    store, q = await open_queries(recorded.db)
    try:
        for read in (q.run, q.detail, q.attempts, q.steps, q.events, q.artifacts):
            with pytest.raises(RunNotFound, match="nope"):
                await read("nope")
    finally:
        await store.close()


async def test_cancel_requests_and_resume_clearing_them(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = await Store.open(db)
    try:
        with sqlite3.connect(db) as conn:
            conn.execute(
                "INSERT INTO runs (run_id, goal, plan_json, config_json, status, created_at)"
                " VALUES ('live', 'g', '{}', '{}', 'running', 1.0),"
                " ('done', 'g', '{}', '{}', 'succeeded', 1.0)"
            )
        assert not await store.cancel_requested("live")
        before = await store.request_cancel("live")
        assert before.status == "running" and await store.cancel_requested("live")
        first = _one(db, "SELECT cancel_requested_at FROM runs WHERE run_id = 'live'")
        await store.request_cancel("live")  # a second request keeps the first time
        assert _one(db, "SELECT cancel_requested_at FROM runs WHERE run_id = 'live'") == first
        assert _one(db, "SELECT count(*) FROM events WHERE type = 'run.cancel_requested'") == 2
        # an ended run is left alone
        assert (await store.request_cancel("done")).status == "succeeded"
        assert not await store.cancel_requested("done")
        with pytest.raises(RunNotFound):
            await store.request_cancel("nope")
        # resuming clears the request
        await store.mark_interrupted("live")
        assert not await store.cancel_requested("live")
    finally:
        await store.close()


async def test_record_metrics_merges_into_the_summary(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = await Store.open(db)
    try:
        with sqlite3.connect(db) as conn:
            conn.execute(
                "INSERT INTO runs (run_id, goal, plan_json, config_json, status, created_at,"
                " summary_json) VALUES ('r', 'g', '{}', '{}', 'succeeded', 1.0, '{\"a\": 1}')"
            )
        await store.record_metrics("r", {"speedup": 2.5, "critical_path": ["x"]})
        summary = json.loads(_one(db, "SELECT summary_json FROM runs"))
        assert summary == {"a": 1, "metrics": {"speedup": 2.5, "critical_path": ["x"]}}
        assert _one(db, "SELECT speedup FROM run_summary") == 2.5
    finally:
        await store.close()


def _one(db: Path, sql: str) -> object:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


async def test_every_view_gives_the_same_rows_on_both_backends(
    recorded: RecordedRun, recorded_on_postgres: RecordedRun
) -> None:
    """The views' PostgreSQL SQL (``views.to_postgres``) means what SQLite's means."""

    async def rows(db: str | Path, view: str) -> list[tuple[object, ...]]:
        store = await Store.open(db)
        try:
            async with store.engine.connect() as conn:
                found = await conn.exec_driver_sql(f"SELECT * FROM {view}")
                return sorted(
                    (tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in found),
                    key=repr,
                )
        finally:
            await store.close()

    for view in VIEWS:
        sqlite_rows = await rows(recorded.db, view)
        assert sqlite_rows, view
        assert await rows(recorded_on_postgres.db, view) == sqlite_rows, view

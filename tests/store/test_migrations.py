"""The Alembic revisions build exactly the schema of ``schema.py``, and upgrading is cheap."""

from __future__ import annotations

import io
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from swarm.errors import StoreError
from swarm.store import migrate, schema
from swarm.store.engine import create_engine
from swarm.store.pg_engine import create_pg_engine
from swarm.store.views import VIEWS

pytestmark = pytest.mark.anyio
CONFORMANCE = True


def _engine(store_url: str | Path) -> AsyncEngine:
    if isinstance(store_url, str):
        return create_pg_engine(store_url)
    return create_engine(store_url)


def _diff(metadata: sa.MetaData) -> Any:
    def run(conn: Connection) -> Any:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)

    return run


async def test_the_migrated_schema_matches_the_models(store_url: str | Path) -> None:
    engine = _engine(store_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff(schema.metadata)) == []
            # The comparison has teeth: a model with one more column differs.
            changed = sa.MetaData()
            for table in schema.metadata.tables.values():
                table.to_metadata(changed)
            changed.tables["runs"].append_column(sa.Column("extra", sa.Text))
            assert [d[0] for d in await conn.run_sync(_diff(changed))] == ["add_column"]
    finally:
        await engine.dispose()


async def test_every_view_answers_and_a_full_downgrade_removes_everything(
    store_url: str | Path,
) -> None:
    """The views of the database's own dialect are created (each answers a query), and the
    revisions go all the way down and up again (views dropped before the tables they read)."""
    engine = _engine(store_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            for name in VIEWS:
                await conn.exec_driver_sql(f"SELECT * FROM {name}")
            await conn.run_sync(lambda c: command.downgrade(migrate.alembic_config(c), "base"))
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            views = await conn.run_sync(lambda c: sa.inspect(c).get_view_names())
            await conn.commit()
        assert (set(tables) - {"alembic_version"}, views) == (set(), [])
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.HEAD
    finally:
        await engine.dispose()


_OLD_TASKS = [("a", 1.0), ("c", 3.0), ("b", 2.0)]


async def test_0007_numbers_the_tasks_already_written(store_url: str | Path) -> None:
    """Tasks written before ``seq``: SQLite's in creation order, PostgreSQL's as it listed them
    (priority, then id)."""
    engine = _engine(store_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda c: command.upgrade(migrate.alembic_config(c), "0006"))
            await conn.exec_driver_sql(
                "INSERT INTO runs (run_id, goal, plan_json, config_json, status, created_at)"
                " VALUES ('r', 'g', '{}', '{}', 'created', 1.0)"
            )
            for task_id, priority in _OLD_TASKS:
                await conn.exec_driver_sql(
                    "INSERT INTO tasks (run_id, task_id, kind, deps_json, priority, status)"
                    f" VALUES ('r', '{task_id}', 'llm', '[]', {priority}, 'pending')"
                )
            await conn.commit()
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            found = await conn.exec_driver_sql("SELECT task_id FROM tasks ORDER BY seq")
            order = [row[0] for row in found]
        assert order == (["a", "c", "b"] if isinstance(store_url, Path) else ["c", "b", "a"])
    finally:
        await engine.dispose()


def test_head_constant_is_the_newest_revision() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert script.get_current_head() == migrate.HEAD


def test_script_location_is_the_migrations_package() -> None:
    location = migrate.script_location()
    assert location == Path(migrations.__file__).resolve().parent
    assert (location / "env.py").is_file()
    assert (location / "script.py.mako").is_file()


async def test_upgrade_is_idempotent_and_skips_alembic_when_current(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(db_path)
    try:
        assert await migrate.current_revision(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.HEAD

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("alembic ran although the database is current")

        monkeypatch.setattr(command, "upgrade", refuse)
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def test_a_database_from_a_newer_swarm_is_refused(db_path: Path) -> None:
    engine = create_engine(db_path)
    try:
        await migrate.upgrade(engine)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
        with pytest.raises(StoreError, match="9999") as info:
            await migrate.upgrade(engine)
        assert info.value.hint is not None and "newer swarm" in info.value.hint
    finally:
        await engine.dispose()


def test_alembic_on_its_own_opens_swarm_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The path a developer takes (e.g. to autogenerate a revision): no connection handed over.
    db = tmp_path / "dev.db"
    monkeypatch.setenv("SWARM_DB", str(db))
    command.upgrade(migrate.alembic_config(), "head")
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.HEAD,)
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_offline_mode_prints_the_ddl() -> None:
    buffer = io.StringIO()
    config = migrate.alembic_config()
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    ddl = buffer.getvalue()
    for table in schema.metadata.tables:
        assert f"CREATE TABLE {table}" in ddl

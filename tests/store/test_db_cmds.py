"""``swarm db upgrade``: creates and migrates the file named by --db, SWARM_DB or ./swarm.db."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarm.cli import db_cmds
from swarm.cli.app import app
from swarm.errors import ConfigError
from swarm.store.migrate import HEAD


def test_upgrade_creates_the_database_and_prints_the_revision(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert HEAD in result.output and str(db) in result.output
    assert db.is_file()
    again = CliRunner().invoke(app, ["db", "upgrade", "--db", str(db)])
    assert again.exit_code == 0 and HEAD in again.output


def test_upgrade_defaults_to_swarm_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "from-env.db"
    monkeypatch.setenv("SWARM_DB", str(db))
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert db.is_file()


def test_upgrade_of_an_unusable_path_is_an_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", str(tmp_path / "no" / "x.db")])
    assert isinstance(result.exception, ConfigError)  # bad input: exit 2, as for every --db
    assert "does not exist" in str(result.exception)


def test_the_db_group_is_registered_on_the_app() -> None:
    assert db_cmds.db_app in [group.typer_instance for group in app.registered_groups]

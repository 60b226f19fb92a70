"""`swarm db copy` and `swarm export --sqlite` between SQLite files: each run whole, nothing
needing a server (the PostgreSQL directions are in test_postgres_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import CliRunner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def recorded(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database holding two finished sim runs, ``a`` and ``b``."""
    for name in ("SWARM_SIM_LATENCY", "SWARM_SIM_FAULTS", "SWARM_SIM_LEDGER", "SWARM_DB"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "first.db"
    for run_id in ("a", "b"):
        done = cli(
            "execute", ROOT / "examples" / "minimal.json", "--db", db, "--run-id", run_id,
            "--artifacts-dir", tmp_path / "runs", "--json",
        )  # fmt: skip
        assert done.code == 0, done.err
    return db


def _run_ids(cli: CliRunner, db: Path) -> list[str]:
    listed = cli("runs", "--db", db, "--json")
    assert listed.code == 0, listed.err
    return sorted(r["run_id"] for r in json.loads(listed.out)["runs"])


def test_db_copy_copies_every_run_into_a_new_file(
    cli: CliRunner, recorded: Path, tmp_path: Path
) -> None:
    target = tmp_path / "second.db"
    copied = cli("db", "copy", recorded, target, "--json")
    assert copied.code == 0, copied.err
    out = json.loads(copied.out)
    assert sorted(out["runs"]) == ["a", "b"] and sum(out["rows"].values()) > 0
    assert _run_ids(cli, target) == ["a", "b"]
    text = cli("db", "copy", recorded, tmp_path / "third.db", "--run", "b")
    assert text.code == 0 and text.out.startswith("copied 1 run(s), ")
    assert _run_ids(cli, tmp_path / "third.db") == ["b"]


def test_db_copy_from_a_missing_database_is_an_input_error(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("db", "copy", tmp_path / "none.db", tmp_path / "out.db")
    assert result.code == 2
    assert "no database at" in result.err
    assert not (tmp_path / "out.db").exists()


def test_export_sqlite_writes_one_run(cli: CliRunner, recorded: Path, tmp_path: Path) -> None:
    target = tmp_path / "one.db"
    result = cli("export", "a", "--db", recorded, "--sqlite", target, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["run_id"] == "a"
    assert _run_ids(cli, target) == ["a"]

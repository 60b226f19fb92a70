"""End to end: `swarm execute … --provider replicate` with REPLICATE_BASE_URL pointing at the
fake server, in-process, and what ends up stored (never the token)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate
from tests.cli.conftest import CliRunner

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minimal.json"


def files_containing(root: Path, secret: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and secret.encode() in path.read_bytes():
            found.append(path)
    return found


def test_execute_against_the_fake_replicate_succeeds_and_stores_no_token(
    cli: CliRunner,
    replicate_env: FakeReplicate,
    tmp_path: Path,
) -> None:
    db = tmp_path / "swarm.db"
    result = cli(
        "execute", EXAMPLE, "--provider", "replicate", "--db", db, "--json",
        "--artifacts-dir", tmp_path / "runs", "--reasoning-effort", "low",
        "--rate-limit", "6000",
    )  # fmt: skip
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["status"] == "succeeded" and summary["provider"] == "replicate"
    assert summary["simulated"] is False and summary["tokens_out"] > 0
    assert len(replicate_env.creations) == 2
    assert all(p.inputs["reasoning_effort"] == "low" for p in replicate_env.predictions.values())
    with sqlite3.connect(db) as conn:
        (config,) = conn.execute("SELECT config_json FROM runs").fetchone()
        refs = {r for (r,) in conn.execute("SELECT ref FROM steps")}
    assert json.loads(config)["rate_limit"] == 6000
    assert refs == set(replicate_env.predictions)
    assert FAKE_TOKEN not in result.out + result.err
    assert files_containing(tmp_path, FAKE_TOKEN) == []


def test_the_token_in_the_environment_makes_replicate_the_default(
    cli: CliRunner,
    replicate_env: FakeReplicate,
    tmp_path: Path,
) -> None:
    result = cli(
        "execute", EXAMPLE, "--db", tmp_path / "s.db", "--json",
        "--artifacts-dir", tmp_path / "runs", "--model", "moonshotai/kimi-k2.6",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert json.loads(result.out)["provider"] == "replicate"


def test_a_rejected_token_fails_the_tasks_with_a_clear_message(
    cli: CliRunner,
    replicate_env: FakeReplicate,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_not_the_right_one")
    db = tmp_path / "s.db"
    result = cli("execute", EXAMPLE, "--db", db, "--json", "--artifacts-dir", tmp_path / "runs")
    assert result.code == 1
    with sqlite3.connect(db) as conn:
        errors = [e for (e,) in conn.execute("SELECT error FROM attempts WHERE error IS NOT NULL")]
    assert errors and all("rejected the API token" in e for e in errors)
    assert len(replicate_env.creation_attempts()) == 1  # not retried: b never ran


def test_a_missing_token_is_an_input_error(
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    result = cli("execute", EXAMPLE, "--provider", "replicate", "--db", tmp_path / "s.db")
    assert result.code == 2 and "REPLICATE_API_TOKEN" in result.err
    assert not (tmp_path / "s.db").exists()


def test_a_bad_reasoning_effort_is_an_input_error(
    cli: CliRunner,
    tmp_path: Path,
) -> None:
    result = cli("execute", EXAMPLE, "--reasoning-effort", "max", "--db", tmp_path / "s.db")
    assert result.code == 2 and "none, low, medium, high" in result.err

"""`--executor ray`, `--ray-address` and `--ray-kinds`: bad input ends with exit 2 before
anything is written (the runs on a cluster are in tests/ray/)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from swarm.runtime.ray_executor import ray_installed
from tests.cli.conftest import CliRunner


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_the_cli_refuses_an_unreachable_cluster_with_exit_2_and_writes_nothing(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = tmp_path / "p.json"
    plan.write_text(
        '{"goal": "g", "tasks": [{"id": "a", "kind": "code", "config": {"code": "print(1)"}}]}'
    )
    db = tmp_path / "s.db"
    monkeypatch.setenv("SWARM_RAY_ADDRESS", f"127.0.0.1:{_closed_port()}")
    result = cli("execute", plan, "--db", db, "--executor", "ray")
    assert result.code == 2, result.err
    if ray_installed():
        assert "does not answer" in result.err
    else:  # the README's test command runs before the ray extra is installed
        assert "pip install 'swarm-harness[ray]'" in result.err
    assert not db.exists()
    result = cli("execute", plan, "--db", db, "--executor", "ray", "--ray-kinds", "map")
    assert result.code == 2 and "--ray-kinds" in result.err

"""The throwaway PostgreSQL server the Postgres tests run against."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swarm.testing import postgres
from swarm.testing.postgres import PostgresServer


def test_the_server_answers_on_127_0_0_1_only(postgres_server: PostgresServer) -> None:
    assert postgres_server.psql("SHOW listen_addresses").strip() == "127.0.0.1"
    assert postgres_server.psql("SELECT 1").strip() == "1"
    with socket.create_connection(("127.0.0.1", postgres_server.port), timeout=5):
        pass


def test_each_test_gets_its_own_database(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    listed = postgres_server.psql("SELECT datname FROM pg_database").split()
    assert name in listed
    assert (
        postgres_server.psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database=name
        ).strip()
        == "0"
    )


def test_stopping_deletes_the_cluster(postgres_server: PostgresServer) -> None:
    server = postgres.start()
    root = server.data_dir.parent
    assert (server.data_dir / "PG_VERSION").is_file()
    postgres.stop(server)
    assert not root.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_without_binaries_the_error_says_how_to_enable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_PG_BIN", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres, "DEBIAN_BIN_ROOT", tmp_path / "absent")
    assert postgres.find_bin_dir() is None
    with pytest.raises(postgres.PostgresUnavailable, match="apt-get install postgresql"):
        postgres.start()


def test_a_killed_starter_leaves_no_server_behind(postgres_server: PostgresServer) -> None:
    """pytest killed with SIGKILL cannot stop its server: the watchdog does."""
    starter = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal\n"
            "from swarm.testing import postgres\n"
            "s = postgres.start()\n"
            "print(s.port, s.data_dir.parent, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert starter.returncode == -signal.SIGKILL, starter.stderr
    port, root = starter.stdout.split()
    deadline = time.monotonic() + 30
    while Path(root).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(root).exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()

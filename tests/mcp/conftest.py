"""Fixtures for the MCP tests: plans over the real test server (stdio, or streamable HTTP on
127.0.0.1 in a child process), and the server's call log."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarm.plan import Plan

SERVER = str(Path(__file__).with_name("server.py"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "calls.log"
    path.touch()
    return path


def calls(log: Path) -> list[str]:
    """The tools the server was really asked to run, in order."""
    return [line.split()[0] for line in log.read_text().splitlines()]


def pids(log: Path) -> set[str]:
    return {line.split()[1] for line in log.read_text().splitlines()}


def stdio_server(log: Path, **settings: Any) -> dict[str, Any]:
    return {"command": sys.executable, "args": [SERVER, "stdio", str(log)], **settings}


def plan_with(servers: dict[str, Any], *, tools: list[str] | None = None, **extra: Any) -> Plan:
    task = {"id": "a", "kind": "agent", "prompt": "Research anyio.", "tools": tools or []}
    return Plan.model_validate({"goal": "g", "tasks": [task], "mcp_servers": servers, **extra})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def http_url(log: Path) -> Iterator[str]:
    """The test server over streamable HTTP on 127.0.0.1, in its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, SERVER, "http", str(port), str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.kill()
        proc.wait()

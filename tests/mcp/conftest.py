"""Fixtures for the MCP tests: plans over the real test server (stdio, or streamable HTTP on
127.0.0.1 in a child process), and the server's call log."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


PAGE = """<html><head><title>Task groups</title><style>p {color: red}</style></head>
<body><h1>Structured concurrency</h1><p>A task group waits for all its children.</p>
<script>alert('no')</script><ul><li>cancel scopes</li><li><a href="https://anyio.dev">anyio</a>
</li></ul></body></html>"""


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = {
            "/page.html": (200, "text/html; charset=utf-8", PAGE.encode(), {}),
            "/plain": (200, "text/plain", b"just text", {}),
            "/big": (200, "text/plain", b"x" * 50_000, {}),
            "/binary": (200, "application/octet-stream", b"\0\1\2", {}),
            "/hop": (302, "text/plain", b"", {"Location": "/page.html"}),
            "/loop": (302, "text/plain", b"", {"Location": "/loop"}),
            "/away": (302, "text/plain", b"", {"Location": "http://10.255.255.1/x"}),
        }
        status, ctype, body, headers = routes.get(self.path, (404, "text/plain", b"nf", {}))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    """A local web site on 127.0.0.1 for the fetch tool: ``{site}/page.html`` and friends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` + ``pg_ctl`` on 127.0.0.1.

The server binaries are Debian's ``postgresql`` package (``/usr/lib/postgresql/N/bin``), or any
folder named by ``SWARM_PG_BIN``, or ``initdb``/``pg_ctl`` on ``PATH``. The cluster lives in a
temporary folder, listens on 127.0.0.1 only (and a Unix socket inside that folder), on a free
port, trusts local connections, and is stopped and deleted at the end. PostgreSQL refuses to run
as root, so a root caller runs the binaries as the ``postgres`` user (made by the package).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ENABLE_HINT = (
    "install PostgreSQL's server binaries (Debian: `apt-get install postgresql`, which .ci/run "
    "does) or set SWARM_PG_BIN to a folder holding initdb and pg_ctl"
)
"""What a skipped PostgreSQL test says to do."""
_SERVER_USER = "postgres"
DEBIAN_BIN_ROOT = Path("/usr/lib/postgresql")
"""Where Debian's ``postgresql`` package puts each major version's ``bin`` folder."""


class PostgresUnavailable(RuntimeError):
    """No server binary was found, or the server would not start; the message says why."""


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    candidates: list[Path] = []
    if given := os.environ.get("SWARM_PG_BIN"):
        candidates.append(Path(given))
    if found := shutil.which("pg_ctl"):
        candidates.append(Path(found).resolve().parent)
    if DEBIAN_BIN_ROOT.is_dir():
        candidates.extend(sorted(DEBIAN_BIN_ROOT.glob("*/bin"), key=_major, reverse=True))
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _major(folder: Path) -> int:
    name = folder.parent.name
    return int(name) if name.isdigit() else 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A running throwaway server; :meth:`url` names a database on it."""

    bin_dir: Path
    data_dir: Path
    port: int
    watchdog: subprocess.Popen[bytes] | None = field(default=None, compare=False)
    """Stops and deletes the server when this process dies without :func:`stop` (a killed
    pytest): it waits for the end of a pipe only this process holds."""

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``database`` as the superuser ``postgres`` (trusted)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with ``psql`` (for setting up databases); its output."""
        done = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"psql {sql!r} failed: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str) -> str:
        """A new empty database ``name``; its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", _SERVER_USER, "--", *argv]


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-2000:]
        raise PostgresUnavailable(f"{what} failed (exit {done.returncode}): {output}")


def _server_owner() -> tuple[int, int] | None:
    """The uid and gid the server runs as when the caller is root (None otherwise)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_SERVER_USER)
    except KeyError as exc:
        raise PostgresUnavailable(
            f"running as root and there is no {_SERVER_USER!r} user to run PostgreSQL as"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def start(base: Path | None = None, *, fast: bool = True) -> PostgresServer:
    """Initialise and start a server in a new folder under ``base`` (a temporary one if None).

    ``fast``: ``fsync=off`` (tests: a crash of the machine is not what they test); benchmarks
    pass False to measure the server's real commit cost.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(f"no PostgreSQL server binaries found: {ENABLE_HINT}")
    owner = _server_owner()
    root = Path(tempfile.mkdtemp(prefix="swarm-pg-", dir=base))
    data = root / "data"
    data.mkdir()
    if owner is not None:
        for path in (root, data):
            os.chown(path, *owner)
    _run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        "initdb",
    )
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200"
    if fast:
        options += " -c fsync=off -c full_page_writes=off"
    _run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        ],
        "pg_ctl start",
    )
    stop_argv = _stop_argv(bin_dir, data)
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(root), *_as_server_user(stop_argv)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C of the tests must not kill it before it acts
    )
    return PostgresServer(bin_dir=bin_dir, data_dir=data, port=port, watchdog=watchdog)


_WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.buffer.read()  # returns at end of file: the process that started the server is gone
subprocess.run(sys.argv[2:], capture_output=True)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


def _stop_argv(bin_dir: Path, data: Path) -> list[str]:
    return [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]


def stop(server: PostgresServer) -> None:
    """Stop the server (fast shutdown) and delete its folder."""
    with contextlib.suppress(PostgresUnavailable):
        _run(_stop_argv(server.bin_dir, server.data_dir), "pg_ctl stop")
    shutil.rmtree(server.data_dir.parent, ignore_errors=True)
    if server.watchdog is not None and server.watchdog.stdin is not None:
        server.watchdog.stdin.close()  # it finds the server stopped and the folder gone
        server.watchdog.wait(timeout=60)


@contextlib.contextmanager
def running(base: Path | None = None, *, fast: bool = True) -> Iterator[PostgresServer]:
    """A server for the ``with`` block; stopped and deleted at its end."""
    server = start(base, fast=fast)
    try:
        yield server
    finally:
        stop(server)

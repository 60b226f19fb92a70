"""Every command's `--help` imports what defining its options needs, not the runtime.

Each case runs the console script's entry (:func:`swarm.cli.__main__.main`, what `swarm CMD
--help` and `python -m swarm.cli CMD --help` run) in a fresh interpreter and reads
``sys.modules`` afterwards. The commands come from the app itself, so a new command or
subcommand is checked without being listed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swarm.cli.app import build

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN_PACKAGES = frozenset(
    {
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "alembic",
        "anyio",
        "networkx",
        "pydantic",
        "pydantic_core",
        "jsonschema",
        "replicate",
        "httpx",
        "openai",
        "ray",
        "mcp",
        "datasette",
        "uvicorn",
        "opentelemetry",
        "planners",
        "workers",
    }
)
"""Libraries (and the planner and worker packages) no command's help needs. pydantic is among
them: typer coerces option values through it, but `--help` is answered before any value is."""
FORBIDDEN_MODULES = (
    "swarm.api",
    "swarm.api_settings",
    "swarm.api_types",
    "swarm.runtime",
    "swarm.store",
    "swarm.plan",
    "swarm.dag",
    "swarm.providers.factory",
    "swarm.telemetry",
    "swarm.report",
    "swarm.dashboard",
    "swarm.orchestrate",
    "swarm.cli.progress",
)
"""swarm's own heavy modules (each with its submodules): the API, the runtime, the store, the
plan models, the providers, and what only a running command uses."""


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subcommands = getattr(command, "commands", {})
    found = [path] if path else []
    for name, sub in subcommands.items():
        found += _command_paths(sub, (*path, name))
    return found


COMMANDS = _command_paths(build(None))


def _help_run(args: list[str]) -> tuple[object, str, list[str]]:
    """Exit code, stdout and loaded modules of the console script's entry run with ``args``."""
    script = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        sys.argv = ["swarm", *{args!r}]
        from swarm.cli.__main__ import main
        code, out = None, io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            try:
                main()
            except SystemExit as exc:
                code = exc.code
        print(json.dumps([code, out.getvalue(), sorted(sys.modules)]))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    code, out, modules = json.loads(done.stdout.splitlines()[-1])
    return code, out, modules


def _heavy(modules: list[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in FORBIDDEN_PACKAGES
        or any(m == heavy or m.startswith(f"{heavy}.") for heavy in FORBIDDEN_MODULES)
    )


def test_every_command_and_subcommand_is_checked() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"execute", "run", "resume", "retry", "plan", "runs", "db", "db copy"} <= names
    assert len(names) >= 22


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_imports_no_runtime_store_api_or_provider(path: tuple[str, ...]) -> None:
    code, out, modules = _help_run([*path, "--help"])
    assert code == 0
    assert f"Usage: swarm {' '.join(path)}" in out  # the real help, not a stand-in's
    assert _heavy(modules) == []


def test_the_check_sees_what_a_command_imports_when_it_runs(tmp_path: Path) -> None:
    """The same check on a command that runs (not its help) finds the runtime: the test can fail."""
    code, _, modules = _help_run(["runs", "--db", str(tmp_path / "none.db")])
    assert code == 2  # no database there: bad input, after the store was imported to say so
    assert "swarm.store.engine" in _heavy(modules)

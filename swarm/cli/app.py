"""The typer app and the entry point that maps the error tree onto exit codes.

Exit codes: 0 success, 1 a run ended with failed tasks (or a runtime error), 2 invalid input
(nothing written), 130 cancelled.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from swarm.errors import SwarmError

app = typer.Typer(
    name="swarm",
    help="Run agent swarms: plans as DAGs, executed durably over SQLite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_CANCELLED = 130


def _register() -> None:
    # Each module adds its commands to ``app`` on import.
    from swarm.cli import (  # noqa: F401
        dashboard_cmds,
        db_cmds,
        inspect_cmds,
        plan_cmds,
        planner_cmds,
        report_cmds,
        run_cmds,
        submit_cmds,
    )


def _usage_errors() -> tuple[type[Exception], ...]:
    """click's usage-error classes: typer >= 0.2x ships its own copy of click, whose errors
    derive from ``typer.TyperException``; older typer raises those of click itself."""
    found: list[type[Exception]] = []
    if hasattr(typer, "TyperException"):
        found.append(typer.TyperException)
    try:
        import click
    except ImportError:
        pass
    else:
        found.append(click.ClickException)
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every :class:`SwarmError` becomes a message on stderr and its exit code."""
    _register()
    try:
        # Outside standalone mode click *returns* the code of a ``typer.Exit`` (and of --help).
        code = app(args=argv, standalone_mode=False)
    except SwarmError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    except Exception as exc:  # click's usage errors: bad flags, missing arguments
        if isinstance(exc, _usage_errors()):
            exc.show(file=sys.stderr)  # type: ignore[attr-defined]
            return EXIT_INPUT
        raise
    return code if isinstance(code, int) and not isinstance(code, bool) else EXIT_OK


def run() -> None:
    sys.exit(main())

"""What a command prints when it fails, shared by the typer app and the fast entry
(:mod:`swarm.cli.fast`): the one JSON error object of ``--json``, and the ``error:`` line on
stderr. Standard library only at import; rich is imported to print an error (it words the line
exactly as the rest of the CLI's output), never on a command's way to success."""

from __future__ import annotations

import json
import sys
from typing import Any

from swarm.errors import PlanError, SwarmError

EXIT_FAILED = 1
EXIT_CANCELLED = 130


def wants_json(argv: list[str]) -> bool:
    """``--json`` was given (before a ``--``): failures are then reported as JSON on stdout."""
    args = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in args


def error_json(exc: BaseException, exit_code: int, kind: str | None = None) -> str:
    """The one JSON object a ``--json`` command prints when it fails."""
    formatted = getattr(exc, "format_message", None)  # click's usage errors name the flag
    message = formatted() if callable(formatted) else getattr(exc, "message", None)
    error: dict[str, Any] = {
        "type": kind or type(exc).__name__,
        "message": message or str(exc),
        "hint": getattr(exc, "cli_hint", None) or getattr(exc, "hint", None),
        "exit_code": exit_code,
    }
    if isinstance(exc, PlanError):
        error["source"] = exc.source
        error["problems"] = [
            {"where": p.where, "field": p.field, "message": p.message} for p in exc.problems
        ]
    return json.dumps({"ok": False, "error": error}, default=str)


def cli_text(exc: SwarmError) -> str:
    """The error as the CLI words it (its CLI hint, where the error tree gives one)."""
    words = getattr(exc, "cli_text", None)
    return str(words()) if callable(words) else str(exc)


def echo(text: str) -> None:
    """A line on stdout, as ``typer.echo`` writes it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_error(exc: SwarmError) -> None:
    """``error: …`` on stderr, ``error:`` in bold red on a terminal."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]error:[/] {escape(cli_text(exc))}", markup=True)


def fail(exc: BaseException, *, as_json: bool) -> int:
    """The exit code for an exception no command caught, after saying what happened: a
    :class:`SwarmError` as its message (or JSON object), an interrupt as exit 130, anything else
    as a traceback (with ``--json``, then an ``InternalError`` object on stdout); re-raised
    without ``--json``, as Python would report it."""
    if isinstance(exc, SwarmError):
        if as_json:
            echo(error_json(exc, exc.exit_code))
        else:
            print_error(exc)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        if as_json:
            echo(error_json(exc, EXIT_CANCELLED, "Cancelled"))
        return EXIT_CANCELLED
    if not as_json:
        raise exc
    import traceback

    traceback.print_exc(file=sys.stderr)
    echo(error_json(exc, EXIT_FAILED, "InternalError"))
    return EXIT_FAILED

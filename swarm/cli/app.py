"""The typer app and the entry point that maps the error tree onto exit codes.

Exit codes: 0 success, 1 a run ended with failed tasks (or a runtime error), 2 invalid input
(nothing written), 3 a trace export failed (``ExportError``), 4 a run paused because a budget
ran out (resumable), 130 cancelled. With ``--json`` every failure is one JSON object on stdout,
``{"error": {"type", "message", "hint", "exit_code", ...}}``, so a script reads one object
whatever happened.

Building the app imports only what the invoked command needs: each command module imports its
heavy parts (the runtime, the store, SQLAlchemy, the API) inside the commands, and of the command
modules (:data:`LAZY_COMMANDS`) only the invoked command's is imported; the root's help imports
none and lists every command from its one-line summary in :mod:`swarm.cli.commands`. The console
script reaches this app only for what :mod:`swarm.cli.fast` leaves to it (the root's help,
``--version`` and ``validate`` are answered there without typer or rich).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from rich.console import Console

from swarm import interrupts
from swarm.cli.answers import error_json, fail, wants_json
from swarm.cli.commands import COMMAND_ORDER, HELP_OPTIONS, LAZY_COMMANDS, ROOT_HELP, VERSION_HELP
from swarm.errors import SwarmError

app = typer.Typer(
    name="swarm",
    help=ROOT_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTIONS},
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_PAUSED = 4
EXIT_WAITING = 5
"""The run waits for decisions (approvals): `swarm approve`/`reject`, then `swarm resume`."""
EXIT_CANCELLED = 130

LIGHT_MODULES = (
    "plan_cmds",
    "planner_cmds",
    "inspect_cmds",
    "approval_cmds",
    "report_cmds",
    "dashboard_cmds",
    "db_cmds",
)
"""Command modules that are cheap to import (they import their heavy parts lazily): all of them
are imported for a command :data:`LAZY_COMMANDS` does not list."""


def version_callback(value: bool) -> None:
    if value:
        from swarm import __version__

        typer.echo(f"swarm {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help=VERSION_HELP,
        callback=version_callback,
        is_eager=True,
    ),
) -> None:
    """Run agent swarms: plans as DAGs, executed durably over SQLite."""


def _register(argv: list[str] | None = None) -> None:
    """Import the command modules (each adds its commands to ``app``): only the one ``argv``
    invokes; none for the root's help; all of them when ``argv`` is None (as tests of the whole
    app want) or when it names a command :data:`LAZY_COMMANDS` does not list (click then
    answers for it, or says there is no such command)."""
    invoked = None if argv is None else _command_name(argv)
    if argv is None or (invoked is not None and invoked not in LAZY_COMMANDS):
        modules = {*LIGHT_MODULES, *(module for module, _ in LAZY_COMMANDS.values())}
    else:
        modules = {LAZY_COMMANDS[invoked][0]} if invoked is not None else set()
    for name in sorted(modules):
        importlib.import_module(f"swarm.cli.{name}")


def _command_name(argv: list[str]) -> str | None:
    """The command ``argv`` invokes: the root takes only flags without values."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build(argv: list[str] | None = None) -> typer.core.TyperGroup:
    """The click group for ``argv``: the registered commands, then a summary-only stand-in for
    each lazy command not imported, in :data:`COMMAND_ORDER`."""
    _register(argv)
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    for name, (_, summary) in LAZY_COMMANDS.items():
        if name not in group.commands:
            group.add_command(_stand_in(name, summary), name)
    rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
    group.commands = dict(sorted(group.commands.items(), key=lambda kv: rank.get(kv[0], 99)))
    polish(group)
    return group


_METAVARS = {"bool": "", "str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH"}


def polish(command: Any) -> None:
    """Help as people read it, for every command alike: paragraphs as flowing text with no
    docstring line breaks or reST double backticks, and metavars in words (``TEXT``,
    ``INTEGER``; nothing for a flag) instead of typer's ``<str>``/``<bool>`` type tags."""
    if command.help:
        command.help = _flow(command.help)
    ctx = typer.Context(command, help_option_names=HELP_OPTIONS)
    help_option = command.get_help_option(ctx)  # cached by click: this is the one shown
    if help_option is not None:
        # A group's help flag, not given, would be None, which typer coerces through pydantic
        # (~0.1 s of imports for `swarm CMD --help`); False is a bool, which it lets through.
        help_option.default = False
    for param in [*command.params, *([help_option] if help_option else [])]:
        if param.param_type_name == "argument":
            param.display_type_rich = _no_type  # its metavar (PLAN, RUN_ID) says it all
        elif param.metavar is None:
            label = param.display_type(ctx).strip("<>").removesuffix(" range")
            label = label.removeprefix("list[").removesuffix("]")
            if "|" in label:
                param.metavar = f"[{label}]"
            else:
                param.metavar = _METAVARS.get(label, label.upper())
    for sub in getattr(command, "commands", {}).values():
        polish(sub)


def _no_type(ctx: Any) -> None:
    return None


def _flow(text: str) -> str:
    import inspect

    paragraphs = inspect.cleandoc(text).replace("``", "`").split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _stand_in(name: str, summary: str) -> Any:
    """A command that only lists ``name`` in the root's help (invoking it imports the real one)."""
    return typer.core.TyperCommand(name, help=summary, callback=lambda: None)


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
    """Run the CLI; every :class:`SwarmError` becomes a message on stderr (or, with ``--json``,
    a JSON object on stdout) and its exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = wants_json(args)
    try:
        # Outside standalone mode click *returns* the code of a ``typer.Exit`` (and of --help).
        code = build(args)(args=args, prog_name="swarm", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return fail(KeyboardInterrupt(), as_json=as_json)
    except Exception as exc:  # click's usage errors: bad flags, missing arguments
        if not isinstance(exc, _usage_errors()) or isinstance(exc, SwarmError):
            return fail(exc, as_json=as_json)
        if as_json:
            typer.echo(error_json(exc, EXIT_INPUT, "UsageError"))
        else:
            exc.show(file=sys.stderr)  # type: ignore[attr-defined]
        return EXIT_INPUT
    except KeyboardInterrupt as exc:
        return fail(exc, as_json=as_json)
    return code if isinstance(code, int) and not isinstance(code, bool) else EXIT_OK


def run() -> None:
    """The console script: signal handlers first (SIGINT/SIGTERM raise KeyboardInterrupt, so
    a signal at any moment, imports included, is exit 130), then the CLI."""
    interrupts.install()
    try:
        code = main()
    except BaseException:  # after a signal, whatever it interrupted: exit 130, no traceback
        if not interrupts.interrupted():
            raise
        code = EXIT_CANCELLED
    interrupts.exit_with(code)

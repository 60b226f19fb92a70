"""The fast entry: `swarm --help`, `swarm --version` and `swarm validate PLAN [--json]` served
without typer or rich, which cost the root help about ten times the interpreter's own start.

:func:`serve` answers only argv it reads exactly as the typer app would, and only when its
answer is the app's byte for byte (tests run both on the same argv); for anything else (a
command's ``--help``, a flag it does not know, a missing or extra argument, an environment that
changes how rich draws) it returns None and the typer app answers, with click's own usage errors
and exit codes.
"""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_NO_COMMAND = 2
"""`swarm` with no arguments prints the root help and exits 2, as click does."""


def serve(argv: list[str]) -> int | None:
    """Answer ``argv`` and return the exit code, or None if the typer app must answer it."""
    if argv in (["--help"], ["-h"]):
        return _root_help(EXIT_OK)
    if not argv:
        return _root_help(EXIT_NO_COMMAND)
    if argv == ["--version"]:
        from swarm import __version__

        sys.stdout.write(f"swarm {__version__}\n")
        return EXIT_OK
    if argv[:1] == ["validate"]:
        return _validate(argv[1:])
    return None


def _root_help(code: int) -> int | None:
    from swarm.cli import root_help

    out = root_help.console(sys.stdout)
    if out is None:
        return None
    text = root_help.render(out)
    if code == EXIT_NO_COMMAND:  # click shows it as a usage error: no blank line, one on stderr
        sys.stdout.write(text[:-1])
        sys.stdout.flush()
        sys.stderr.write("\n")
    else:
        sys.stdout.write(text)
    sys.stdout.flush()
    return code


def _validate(args: list[str]) -> int | None:
    """`validate PLAN` with an optional ``--json`` on either side: nothing else is read here."""
    flags = [arg for arg in args if arg.startswith("-")]
    paths = [arg for arg in args if not arg.startswith("-")]
    if len(paths) != 1 or any(flag != "--json" for flag in flags) or len(flags) > 1:
        return None
    from pathlib import Path

    from swarm.cli.answers import fail
    from swarm.cli.plan_summary import validate

    as_json = bool(flags)
    try:
        return validate(Path(paths[0]), as_json=as_json)
    except (Exception, KeyboardInterrupt) as exc:  # as the app words them
        return fail(exc, as_json=as_json)

"""``python -m swarm.cli`` and the ``swarm`` console script: the signal handlers go in before
anything heavy is imported (typer, rich, pydantic, SQLAlchemy: about a second on a busy
machine), so a SIGINT or SIGTERM at any moment is a clean exit 130. `swarm --help`, `--version`
and `validate` are answered by the fast entry (:mod:`swarm.cli.fast`, no typer or rich); every
other command, and any argv the fast entry does not read exactly as typer would, by the app."""

from __future__ import annotations

import sys

from swarm import interrupts

EXIT_CANCELLED = 130


def main() -> None:
    interrupts.install()
    try:
        from swarm.cli.fast import serve

        code = serve(sys.argv[1:])
        if code is None:
            from swarm.cli.app import run
    except BaseException:  # a signal mid-import can surface as another error (pyo3 panics)
        if not interrupts.interrupted():
            raise
        interrupts.exit_with(EXIT_CANCELLED)
    if code is not None:
        interrupts.exit_with(code)
    run()


if __name__ == "__main__":
    main()

"""``python -m swarm.cli`` and the ``swarm`` console script: the signal handlers go in before
anything heavy is imported (typer, rich, pydantic, SQLAlchemy: about a second on a busy
machine), so a SIGINT or SIGTERM at any moment is a clean exit 130."""

from __future__ import annotations

from swarm import interrupts

EXIT_CANCELLED = 130


def main() -> None:
    interrupts.install()
    try:
        from swarm.cli.app import run
    except BaseException:  # a signal mid-import can surface as another error (pyo3 panics)
        if not interrupts.interrupted():
            raise
        interrupts.exit_with(EXIT_CANCELLED)
    run()


if __name__ == "__main__":
    main()

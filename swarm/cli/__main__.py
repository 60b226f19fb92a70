"""``python -m swarm.cli`` and the ``swarm`` console script: the signal handlers go in before
anything heavy is imported (typer, rich, pydantic, SQLAlchemy: about a second on a busy
machine), so a SIGINT or SIGTERM at any moment is a clean exit 130."""

from __future__ import annotations

from swarm.runtime import interrupts


def main() -> None:
    interrupts.install()
    from swarm.cli.app import run

    run()


if __name__ == "__main__":
    main()

"""Options that many commands share (``--db``, ``--json``, ``--quiet``), with their checks.

This module imports nothing heavy: the command modules import it while the app is built, and
``swarm --help`` must not pay for SQLAlchemy or the runtime (see :mod:`swarm.cli.app`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarm.defaults import DB_FILE
from swarm.errors import ConfigError, StoreError
from swarm.providers.names import PROVIDERS

DB_HINT = "point --db (or $SWARM_DB) at a SQLite file in an existing folder, or a postgresql:// URL"


def db_path(value: str | Path | None) -> Path | str:
    """The database a command uses (``--db``, else ``$SWARM_DB``, else ``./swarm.db``): a
    ``postgresql://`` URL as given, or a file checked before anything opens it: a folder, a
    missing parent folder or a file that is not SQLite is bad input (exit 2), for every command
    alike. A missing file is not an error here: the commands that need an existing database
    say so themselves."""
    from swarm.store.engine import check_path, default_db
    from swarm.store.target import as_target, is_postgres

    path = as_target(value) if value is not None else default_db()
    if is_postgres(path):
        return path
    try:
        check_path(path)
    except StoreError as exc:
        raise ConfigError(exc.message, hint=DB_HINT) from None
    return path


def existing_db(value: str | Path | None, run_id: str | None = None) -> Path | str:
    """:func:`db_path` for a command that reads a database: one that does not exist is bad
    input (a run that cannot be there, when the command names one), never created."""
    from swarm.errors import RunNotFound
    from swarm.store.engine import exists

    path = db_path(value)
    if not exists(path):
        if run_id is not None:
            raise RunNotFound(run_id, str(path))
        raise ConfigError(
            f"no database at {path}",
            hint="run a plan first (`swarm execute PLAN`), or point --db/SWARM_DB at the file",
        )
    return path


def _check_db(value: str | None) -> str | None:
    db_path(value)  # at parse time, so every command taking --db refuses a bad one alike
    return value


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLite database file, or a postgresql:// URL "
        f"(default: $SWARM_DB, else ./{DB_FILE}).",
        show_default=False,
        metavar="FILE|URL",
        callback=_check_db,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print one JSON object on stdout (errors too); all else on stderr."
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]

PROVIDER_NAMES = PROVIDERS
"""The providers `--provider` names, from :mod:`swarm.providers.names` (the factory imports the
providers, which help text should not pay for)."""
MAX_TASKS_LIMIT = 5_000
"""The most tasks `--max-tasks` allows, for `swarm plan` and `swarm run` alike."""
DEFAULT_MAX_TASKS = 300
"""`--max-tasks` when not given (:attr:`planners.PlannerSettings.max_tasks`)."""

MaxTasksOption = Annotated[
    int, typer.Option(min=1, max=MAX_TASKS_LIMIT, help="The most tasks the plan may have.")
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="The model to call (default: moonshotai/kimi-k2.6)."),
]
ReasoningEffortOption = Annotated[
    str | None, typer.Option(help="none, low, medium or high (planner default: high).")
]
BaseUrlOption = Annotated[
    str | None, typer.Option(help="Address of the replicate or openai provider's API.")
]
RateLimitOption = Annotated[
    int | None, typer.Option(min=1, help="Prediction creations per minute (default 600).")
]

"""Where a store lives: a SQLite file (a path) or a PostgreSQL server (a ``postgresql://`` URL).

``--db``, ``SWARM_DB`` and ``Swarm(db=…)`` take either. This module imports nothing heavy (the
CLI checks ``--db`` while it parses). A URL's password never appears in messages.
"""

from __future__ import annotations

import re
from pathlib import Path

DbTarget = str | Path
"""A database as given: a file path, or a PostgreSQL URL (a ``str``)."""

_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")
_PASSWORD = re.compile(r"^([a-z+]+://[^:/@]*):[^@]*@")


def is_postgres(target: DbTarget) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(_SCHEMES)


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy's async engine takes (driver ``asyncpg``)."""
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


def asyncpg_dsn(url: str) -> str:
    """The DSN :func:`asyncpg.connect` takes (``postgresql://``)."""
    return "postgresql://" + url.split("://", 1)[1]


def shown(target: DbTarget) -> str:
    """``target`` for messages: a URL's password replaced by ``***``."""
    text = str(target)
    return _PASSWORD.sub(r"\1:***@", text) if is_postgres(target) else text


def as_target(value: DbTarget) -> DbTarget:
    """``value`` as a target: a URL stays a string, anything else becomes a :class:`Path`."""
    return value if is_postgres(value) else Path(value)

"""The persistence layer: a SQLite file or a PostgreSQL database, written only by the single writer.

``Store.open(path_or_url)`` creates/migrates the database; ``store.writer(on_commit)`` is the group
committer the runtime feeds with :mod:`swarm.store.ops`; reads return :mod:`swarm.store.records`.

The names below are loaded on first use: :mod:`swarm.store.ops` and :mod:`swarm.store.records`
are plain data that the workers and `swarm validate` import, and they must not pay for
SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarm.store.engine import default_db
    from swarm.store.store import Store
    from swarm.store.writer import Writer

_HOMES = {
    "Store": "swarm.store.store",
    "Writer": "swarm.store.writer",
    "default_db": "swarm.store.engine",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'swarm.store' has no attribute {name!r}")


__all__ = ["Store", "Writer", "default_db"]

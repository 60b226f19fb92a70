"""The persistence layer: one SQLite file per deployment, written only by the single writer.

``Store.open(path)`` creates/migrates the database; ``store.writer(on_commit)`` is the group
committer the runtime feeds with :mod:`swarm.store.ops`; reads return :mod:`swarm.store.records`.
"""

from __future__ import annotations

from swarm.store.engine import default_db
from swarm.store.store import Store
from swarm.store.writer import Writer

__all__ = ["Store", "Writer", "default_db"]

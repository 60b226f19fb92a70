"""Defaults that the CLI's help shows and the runtime applies, in a module that imports nothing:
`swarm CMD --help` prints them without importing the store or the runtime that use them."""

from __future__ import annotations

DB_FILE = "swarm.db"
"""The database when neither ``--db`` nor ``$SWARM_DB`` names one (in the working folder)."""
ARTIFACTS_DIR = "swarm-runs"
"""The folder each run writes its files under (``<folder>/<run_id>/``) unless told otherwise."""

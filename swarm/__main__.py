"""``python -m swarm``: the ``swarm`` console script (:mod:`swarm.cli.__main__`)."""

from __future__ import annotations

from swarm.cli.__main__ import main

if __name__ == "__main__":
    main()

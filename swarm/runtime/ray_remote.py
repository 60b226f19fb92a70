"""What runs on a Ray node: one attempt from its spec to its outcome, on a stock asyncio loop.

Imported by Ray's worker processes (so every node needs swarm-harness installed, at the
driver's version). It touches no database and no provider: the outcome, with the attempt's
records and its error if any, goes back to the driver, which records it.
"""

from __future__ import annotations

import anyio

from swarm.runtime.executor import AttemptOutcome, AttemptSpec, run_spec
from workers.registry import registry


def run_attempt(spec: AttemptSpec) -> AttemptOutcome:
    """The body of the Ray task: ``ray.cancel`` interrupts it (KeyboardInterrupt in the loop),
    which stops the worker, and the sandbox kills the program it started."""
    worker = registry()[spec.task.kind]
    return anyio.run(run_spec, spec, worker)  # the stock asyncio loop, not uvloop

"""Which tasks `swarm retry` runs again: the failed tasks chosen, and the skipped descendants
that nothing else still holds back. No I/O: statuses and dependencies in, two lists out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from graphlib import TopologicalSorter

from swarm.errors import ConfigError


def tasks_to_retry(
    statuses: Mapping[str, str],
    deps: Mapping[str, Sequence[str]],
    wanted: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """(failed tasks to retry, skipped tasks to un-skip), each in dependency order.

    ``wanted`` names failed tasks (none: every failed task). A skipped task is un-skipped when
    none of its dependencies stays failed, skipped or replaced; the others keep their state, so
    succeeded results are kept and a branch under a failure not retried stays skipped.
    """
    failed = [t for t, status in statuses.items() if status == "failed"]
    for task_id in wanted:
        if task_id not in statuses:
            raise ConfigError(
                f"--task {task_id!r}: the run has no such task",
                hint="see the run's tasks with `swarm show RUN`",
            )
        if statuses[task_id] != "failed":
            raise ConfigError(
                f"--task {task_id!r} is {statuses[task_id]}, not failed: only failed tasks are "
                "retried (their skipped descendants come with them)",
                hint="see which tasks failed with `swarm show RUN`",
            )
    chosen = set(wanted) if wanted else set(failed)
    order = list(TopologicalSorter({t: list(deps.get(t, ())) for t in statuses}).static_order())
    held = {t for t in order if statuses[t] in ("failed", "replaced") and t not in chosen}
    retried: list[str] = []
    unskipped: list[str] = []
    for task_id in order:
        status = statuses[task_id]
        if task_id in chosen:
            retried.append(task_id)
        elif status == "skipped":
            if any(dep in held for dep in deps.get(task_id, ())):
                held.add(task_id)
            else:
                unskipped.append(task_id)
    return retried, unskipped

"""kill -9 an orchestrator-mode `swarm execute` at seeded moments and `swarm resume` it: no
sub-agent (or orchestrator turn) that had finished is run again, and the results equal an
uninterrupted run's (the harness is :mod:`swarm.testing.crash`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm.orchestrate import orchestrator_plan
from swarm.testing.crash import Recovery, Reference, crash_and_resume, run_reference

ITEMS = "\n".join(f"- source {i}" for i in range(12))
SEEDS = [5, 17, 29, 41]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    plan = orchestrator_plan(f"Survey these sources\n{ITEMS}").model_dump(exclude_none=True)
    plan["budget"] = {"max_concurrency": 6}
    made = run_reference(tmp_path_factory.mktemp("reference"), plan)
    assert len(made.results) == 1 + 12 + 1  # orchestrator, the swarm, the cross-check
    return made


def finished_run_again(recovery: Recovery) -> list[str]:
    """Tasks that had succeeded before the kill and made a model call after it."""
    return recovery.re_executed_succeeded


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_then_resume_reruns_no_finished_sub_agent(
    tmp_path: Path, reference: Reference, seed: int
) -> None:
    recovery = crash_and_resume(tmp_path, reference, seed)
    if not recovery.recorded:
        pytest.skip("killed before the run was recorded: nothing to resume")
    assert recovery.resume_code == 0 and recovery.resume_status == "succeeded", (
        recovery.resume_stderr[-2000:]
    )
    assert finished_run_again(recovery) == []
    assert recovery.results == reference.results
    assert recovery.integrity == "ok"
    # at most the in-flight tasks did their work again
    redone = {t for t in recovery.in_flight_called if recovery.after(t) > recovery.before(t)}
    assert redone <= recovery.in_flight
    # the orchestrator's three turns were each asked once, unless one was in flight at the kill
    assert recovery.after("orchestrator") == 3 or "orchestrator" in recovery.in_flight
    assert recovery.after("orchestrator") <= 4

"""The Python API of approvals: typed pending approvals and decisions, once only, and the
``wait_approvals`` switch of execute and resume."""

from __future__ import annotations

import getpass
from pathlib import Path

import anyio
import pytest

from swarm import AlreadyDecided, ApprovalDecision, PendingApproval, Swarm

pytestmark = pytest.mark.anyio

PLAN = {
    "goal": "g",
    "tasks": [
        {"id": "a", "kind": "llm", "prompt": "a"},
        {"id": "b", "kind": "llm", "prompt": "b", "deps": ["a"],
         "approval": {"prompt": "go on?"}},
    ],
}  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_approvals_approve_and_reject_are_typed_and_once_only(tmp_path: Path) -> None:
    async with Swarm(tmp_path / "s.db", artifacts_dir=tmp_path / "runs") as sw:
        summary = await sw.execute(PLAN, run_id="r")
        assert summary.status == "waiting" and summary.waiting is not None
        [pending] = await sw.approvals()
        assert isinstance(pending, PendingApproval) and pending.run_id == "r"
        assert (pending.task_id, pending.prompt, pending.run_status) == ("b", "go on?", "waiting")
        assert set(pending.inputs) == {"a"} and pending.inputs["a"]  # what a decides on
        assert await sw.approvals("r") == [pending]
        made = await sw.approve("r", "b", note="fine")
        assert isinstance(made, ApprovalDecision) and made.decided_by == getpass.getuser()
        with pytest.raises(AlreadyDecided):
            await sw.reject("r", "b", by="bob")
        assert await sw.approvals("r") == []
        done = await sw.resume("r")
    assert done.succeeded and done.counts["succeeded"] == 2


async def test_wait_approvals_keeps_the_run_going_until_a_decision(tmp_path: Path) -> None:
    async with Swarm(tmp_path / "s.db", artifacts_dir=tmp_path / "runs") as sw:

        async def reject_when_asked() -> None:
            with anyio.fail_after(10):
                while not await sw.approvals():  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            await sw.reject("r", "b", note="no", by="bob")

        async with anyio.create_task_group() as tg:
            tg.start_soon(reject_when_asked)
            summary = await sw.execute(PLAN, run_id="r", wait_approvals=True)
        results = {t.task_id: t for t in await sw.results("r")}
    assert summary.status == "failed"
    assert results["b"].status == "failed" and results["b"].error == "rejected by bob: no"

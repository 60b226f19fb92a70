"""The ray executor on a real 2-node local cluster: the same results as the local executor,
remote work really stopped by a timeout and by a cancel, a node killed mid-run losing nothing."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from swarm.plan import Plan
from swarm.providers.base import ModelRequest, Provider
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.fakes import ScriptedProvider, plan_data
from tests.ray.conftest import NODE_STORE_BYTES, inside_namespace, only_loopback
from tests.workers.conftest import actions

pytestmark = [pytest.mark.anyio, inside_namespace]

NODE = "import json, os, sys\nd = json.load(sys.stdin)\n"
TICKING = (
    "import pathlib, time\n"
    "p = pathlib.Path('ticks')\n"
    "n = 0\n"
    "while True:\n"
    "    n += 1\n"
    "    if n % 200_000 == 1:\n"
    "        p.write_text(str(time.time()))\n"
)
"""A CPU loop that leaves a trace: the time of its last lap in ``ticks`` in its workspace."""


def code(task_id: str, source: str, deps: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "kind": "code", "deps": list(deps), "config": {"code": source}, **extra}


async def execute(
    tmp_path: Path,
    tasks: list[dict[str, Any]],
    executor: str,
    provider: Provider | None = None,
    **plan: Any,
) -> dict[str, Any]:
    store = await Store.open(tmp_path / f"{executor}.db")
    try:
        options = runs.RunOptions(
            artifacts_dir=str(tmp_path / f"runs-{executor}"),
            executor=executor,
            ray_kinds=("agent", "code", "llm"),
        )
        data = Plan.model_validate(plan_data(tasks, **plan))
        return await runs.execute(store, data, provider or ScriptedProvider(), options, run_id="r")
    finally:
        await store.close()


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def two_nodes_alive() -> None:
    """Wait until the cluster shows its two nodes alive (a node added back by a test is
    registered a moment after ``wait_for_nodes``)."""
    import ray

    with anyio.fail_after(30):
        while sum(n["Alive"] for n in ray.nodes()) != 2:  # noqa: ASYNC110  (the GCS's view)
            await anyio.sleep(0.2)


def runs_tasks(node_id: str) -> None:
    """Return once the node runs a task (a node added back by a test is alive a moment before
    it takes work: an attempt host placed then would go to the other node)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0, max_retries=0)
    def where() -> str:
        return str(ray.get_runtime_context().get_node_id())

    there = NodeAffinitySchedulingStrategy(node_id, soft=False)
    assert ray.get(where.options(scheduling_strategy=there).remote(), timeout=60) == node_id


def test_the_namespace_has_only_loopback() -> None:
    assert only_loopback()


def test_the_cluster_has_two_nodes(cluster: Any) -> None:
    import ray

    alive = [n for n in ray.nodes() if n["Alive"]]
    assert len(alive) == 2
    assert all(n["NodeManagerAddress"] == "127.0.0.1" for n in alive)


async def test_a_plan_gives_the_same_results_as_on_the_local_executor(
    cluster: Any, tmp_path: Path
) -> None:
    tasks = [
        code("a", NODE + "print(json.dumps({'n': 3, 'pid': os.getpid()}))"),
        code("b", NODE + "print(json.dumps({'n': 4}))"),
        code("c", NODE + "print(json.dumps(d['a']['n'] ** 2 + d['b']['n'] ** 2))", ("a", "b")),
        {"id": "say", "kind": "llm", "prompt": "the sum", "deps": ["c"]},  # in the driver
        code("d", NODE + "print(json.dumps([d['c'], len(d['say']) > 0]))", ("c", "say")),
    ]
    local = await execute(tmp_path, tasks, "local")
    remote = await execute(tmp_path, tasks, "ray")
    assert local["status"] == remote["status"] == "succeeded"
    sql = "SELECT task_id, status, result FROM tasks WHERE task_id != 'a' ORDER BY task_id"
    assert rows(tmp_path / "local.db", sql) == rows(tmp_path / "ray.db", sql)
    assert rows(tmp_path / "ray.db", "SELECT result FROM tasks WHERE task_id = 'd'") == [
        ("[25, true]",)
    ]
    steps = "SELECT task_id, n, kind, name FROM steps ORDER BY task_id, n"
    assert rows(tmp_path / "local.db", steps) == rows(tmp_path / "ray.db", steps)


async def test_a_task_error_made_on_the_cluster_is_recorded_as_itself(
    cluster: Any, tmp_path: Path
) -> None:
    tasks = [code("bad", "1/0"), code("after", "print(1)", ("bad",))]
    summary = await execute(tmp_path, tasks, "ray")
    assert summary["status"] == "failed"
    got = rows(tmp_path / "ray.db", "SELECT status, error_kind, retryable, error FROM attempts")
    assert [(o, k, r) for o, k, r, _ in got] == [("failed", "CodeFailed", 0)]
    assert "ZeroDivisionError" in got[0][3]
    assert rows(tmp_path / "ray.db", "SELECT status FROM tasks WHERE task_id = 'after'") == [
        ("skipped",)
    ]


def _last_tick(workspace: Path) -> float:
    ticks = workspace / "ticks"
    return float(ticks.read_text() or 0) if ticks.exists() else 0.0


async def _stopped(workspace: Path, within_s: float) -> bool:
    """Whether the ticking loop in ``workspace`` stops writing within ``within_s``."""
    deadline = time.time() + within_s
    while time.time() < deadline:
        before = _last_tick(workspace)
        await anyio.sleep(1.0)
        if _last_tick(workspace) == before:
            return True
    return False


async def test_a_timeout_really_stops_the_remote_cpu_loop(cluster: Any, tmp_path: Path) -> None:
    spin = code("spin", TICKING, timeout_s=10, retries=0)  # room for a cold node's start
    spin["config"]["timeout_s"] = 120  # the sandbox's own wall clock is far off
    summary = await execute(tmp_path, [spin], "ray")
    assert summary["status"] == "failed"
    assert rows(tmp_path / "ray.db", "SELECT status, error_kind FROM attempts") == [
        ("timeout", "TaskTimeout")
    ]
    workspace = tmp_path / "runs-ray" / "r" / "work" / "spin"
    assert _last_tick(workspace) > 0, "the loop never ran"
    assert await _stopped(workspace, within_s=10), "the remote loop still runs"


async def test_cancelling_the_run_stops_the_remote_work(cluster: Any, tmp_path: Path) -> None:
    from swarm.api import Swarm

    spin = code("spin", TICKING)
    spin["config"]["timeout_s"] = 120
    workspace = tmp_path / "runs" / "cancelled" / "work" / "spin"
    async with (
        Swarm(tmp_path / "c.db", artifacts_dir=tmp_path / "runs") as sw,
        sw.start(plan_data([spin]), run_id="cancelled", executor="ray") as run,
    ):
        with anyio.fail_after(60):
            while _last_tick(workspace) == 0:  # noqa: ASYNC110  (a file another process writes)
                await anyio.sleep(0.2)
        run.cancel()
        summary = await run.wait()
    assert summary.status == "cancelled"
    assert await _stopped(workspace, within_s=10), "the remote loop still runs"


async def test_a_node_killed_mid_run_loses_nothing_and_reruns_no_success(
    cluster: Any, tmp_path: Path
) -> None:
    """Six 2 s tasks on two 1-CPU nodes; the worker node is removed while it runs one. Its
    attempt is lost (AttemptLost, retryable) and retried on the head node; every task succeeds
    once, and no task that had succeeded runs again."""
    sleeper = NODE + "import time\nopen('started', 'w').close()\ntime.sleep(2)\n"
    tasks = [code(f"t{i}", sleeper + f"print({i})", retries=2) for i in range(6)]
    tasks.append(code("sum", NODE + "print(sum(d.values()))", tuple(f"t{i}" for i in range(6))))
    work = tmp_path / "runs-ray" / "r" / "work"
    victim = next(n for n in cluster.worker_nodes)
    summary: dict[str, Any] = {}
    await two_nodes_alive()

    async def run() -> None:
        summary.update(await execute(tmp_path, tasks, "ray"))

    async def kill() -> None:
        with anyio.fail_after(60):
            while len(list(work.glob("*/started"))) < 2:  # noqa: ASYNC110  (both nodes busy)
                await anyio.sleep(0.1)
        await anyio.to_thread.run_sync(cluster.remove_node, victim)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            tg.start_soon(kill)
    finally:  # the next tests get two nodes again
        cluster.add_node(num_cpus=1, object_store_memory=NODE_STORE_BYTES)
        cluster.wait_for_nodes()
    db = tmp_path / "ray.db"
    assert summary["status"] == "succeeded"
    assert rows(db, "SELECT result FROM tasks WHERE task_id = 'sum'") == [("15",)]
    lost = rows(db, "SELECT task_id, retryable, error FROM attempts WHERE status = 'failed'")
    assert lost, "no attempt was lost with the node"
    assert all(r == 1 and "lost on the Ray cluster" in e for _, r, e in lost), lost
    per_task = rows(
        db,
        "SELECT task_id, COUNT(*), SUM(status = 'succeeded'), MAX(attempt) FROM attempts "
        "GROUP BY task_id",
    )
    assert all(ok == 1 for _, _, ok, _ in per_task), per_task  # one success each
    succeeded_at = dict(
        rows(db, "SELECT task_id, attempt FROM attempts WHERE status = 'succeeded'")
    )
    assert all(succeeded_at[t] == last for t, _, _, last in per_task)  # nothing after it
    assert json.loads(rows(db, "SELECT result FROM tasks WHERE task_id = 't5'")[0][0]) == 5


async def test_a_driver_killed_mid_run_is_resumed_on_the_cluster(
    cluster: Any, tmp_path: Path
) -> None:
    """kill -9 of a `swarm execute --executor ray` while its attempts run on the cluster; `swarm
    resume`, a new process on a FRESH cluster (found through SWARM_RAY_ADDRESS, which a resume
    prefers over the address stored with the run), finishes the run, and no task that had
    succeeded runs again."""
    import os
    import shutil
    import signal
    import subprocess

    sleeper = NODE + "import time\nopen('started', 'w').close()\ntime.sleep(1.5)\n"
    tasks = [code(f"t{i}", sleeper + f"print({i})") for i in range(3)]
    tasks += [code(f"u{i}", sleeper + f"print({i})", (f"t{i}",)) for i in range(3)]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(plan_data(tasks)))
    db, runs_dir = tmp_path / "k.db", tmp_path / "runs"
    swarm = shutil.which("swarm")
    assert swarm is not None
    command = [swarm, "execute", str(plan), "--db", str(db), "--artifacts-dir", str(runs_dir)]
    command += ["--run-id", "k", "--executor", "ray", "--ray-address", cluster.address, "-q"]
    driver = await anyio.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = runs_dir / "k" / "work"
    try:
        with anyio.fail_after(90):
            while not list(work.glob("u*/started")):  # noqa: ASYNC110  (another process)
                await anyio.sleep(0.1)
    finally:
        driver.send_signal(signal.SIGKILL)
        await driver.wait()
    before = dict(rows(db, "SELECT task_id, status FROM tasks"))
    assert "succeeded" in before.values() and "running" in before.values(), before
    from ray.cluster_utils import Cluster

    head = {"num_cpus": 2, "object_store_memory": NODE_STORE_BYTES, "include_dashboard": False}
    fresh = Cluster(initialize_head=True, head_node_args=head)
    try:
        fresh.wait_for_nodes()
        assert fresh.address != cluster.address
        env = {**os.environ, "SWARM_RAY_ADDRESS": fresh.address}
        resumed = await anyio.run_process(
            [swarm, "resume", "k", "--db", str(db), "-q"], env=env, check=False
        )
    finally:
        fresh.shutdown()
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    assert rows(db, "SELECT status FROM runs WHERE run_id = 'k'") == [("succeeded",)]
    per_task = rows(
        db, "SELECT task_id, SUM(status = 'succeeded'), COUNT(*) FROM attempts GROUP BY task_id"
    )
    assert all(ok == 1 for _, ok, _ in per_task), per_task
    for task_id, status in before.items():
        if status == "succeeded":  # not run again
            assert {t: n for t, _, n in per_task}[task_id] == 1
    assert rows(db, "SELECT COUNT(*) FROM attempts WHERE status = 'interrupted'")[0][0] >= 1


def _agent_script(request: ModelRequest) -> dict[str, Any] | str:
    _, task, _, step = request.call_key.split("/")
    if task != "ag":
        return f"said after {request.prompt.count('42')} mentions"
    if step == "1":
        return {"thought": "compute", "tool": "python", "args": {"code": "print(6 * 7)"}}
    return {"thought": "done", "tool": "finish", "args": {"answer": "it is 42"}}


async def test_llm_and_agent_attempts_on_actors_give_the_local_results(
    cluster: Any, tmp_path: Path
) -> None:
    """Model-bound attempts run on the cluster's async actors; their calls are made by the
    driver (its provider, budget and journal) through the mailbox."""
    tasks = [
        code("a", NODE + "print(json.dumps(6 * 7))"),
        {"id": "ag", "kind": "agent", "prompt": "find the number", "deps": ["a"]},
        {"id": "say", "kind": "llm", "prompt": "say it", "deps": ["ag"]},
    ]
    results = {}
    for executor in ("local", "ray"):
        provider = actions(_agent_script)
        summary = await execute(tmp_path, tasks, executor, provider)
        assert summary["status"] == "succeeded", summary
        assert sorted(provider.tasks_called()) == ["ag", "ag", "say"]
        results[executor] = summary
    sql = "SELECT task_id, result, tokens_in, tokens_out FROM tasks ORDER BY task_id"
    assert rows(tmp_path / "local.db", sql) == rows(tmp_path / "ray.db", sql)
    steps = "SELECT task_id, n, kind, name, tokens_in, tokens_out FROM steps ORDER BY task_id, n"
    assert rows(tmp_path / "local.db", steps) == rows(tmp_path / "ray.db", steps)
    assert rows(tmp_path / "ray.db", "SELECT result FROM tasks WHERE task_id = 'ag'") == [
        ("it is 42",)
    ]
    assert results["local"]["tokens_in"] == results["ray"]["tokens_in"]


async def _slow(request: ModelRequest) -> str:
    await anyio.sleep(2)
    return "ok"


async def test_300_model_bound_attempts_are_in_flight_at_once(cluster: Any, tmp_path: Path) -> None:
    """300 llm attempts at once on the cluster, each call 2 s in the driver's provider: the
    calls overlap (not 600 s one after another)."""
    provider = ScriptedProvider(script=_slow)
    tasks = [{"id": f"q{i}", "kind": "llm", "prompt": f"question {i}"} for i in range(300)]
    started = time.perf_counter()
    summary = await execute(tmp_path, tasks, "ray", provider, budget={"max_concurrency": 300})
    elapsed = time.perf_counter() - started
    assert summary["status"] == "succeeded"
    assert provider.peak >= 150, provider.peak  # calls in flight at once, from the cluster
    assert len(provider.calls) == 300
    assert elapsed < 60, elapsed


async def test_the_driver_s_token_budget_holds_for_attempts_on_the_cluster(
    cluster: Any, tmp_path: Path
) -> None:
    """The calls of remote attempts reserve at the driver's one budget gate: the spending
    never passes the limit, and the run pauses when the next call cannot fit."""

    async def quick(request: ModelRequest) -> str:
        await anyio.sleep(0.2)
        return "ok"

    provider = ScriptedProvider(script=quick)
    tasks = [{"id": f"q{i}", "kind": "llm", "prompt": f"question {i}"} for i in range(60)]
    limit = 200
    summary = await execute(
        tmp_path,
        tasks,
        "ray",
        provider,
        budget={"max_concurrency": 60, "max_tokens": limit},
        defaults={"params": {"max_tokens": 16}},
    )
    assert summary["status"] == "paused", summary["status"]
    assert summary["tokens_in"] + summary["tokens_out"] <= limit
    assert 0 < summary["counts"]["succeeded"] < 60
    assert len(provider.calls) == summary["counts"]["succeeded"]  # no call past the budget


async def test_a_node_killed_under_actor_hosted_attempts_loses_nothing(
    cluster: Any, tmp_path: Path
) -> None:
    """llm attempts on the attempt hosts of both nodes, their 3 s calls in flight in the
    driver; the worker node is removed: the attempts its host ran are AttemptLost, retried on
    a new host, and every task succeeds once."""
    calls = anyio.Event()
    provider: ScriptedProvider

    async def slow(request: ModelRequest) -> str:
        if provider.in_flight >= 12:
            calls.set()
        await anyio.sleep(3)
        return "ok"

    provider = ScriptedProvider(script=slow)
    tasks = [{"id": f"q{i}", "kind": "llm", "prompt": f"q{i}", "retries": 2} for i in range(16)]
    victim = next(iter(cluster.worker_nodes))
    await two_nodes_alive()
    await anyio.to_thread.run_sync(runs_tasks, victim.node_id)  # so a host is placed there
    summary: dict[str, Any] = {}

    async def run() -> None:
        summary.update(await execute(tmp_path, tasks, "ray", provider))

    async def kill() -> None:
        with anyio.fail_after(60):
            await calls.wait()
        await anyio.to_thread.run_sync(cluster.remove_node, victim)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            tg.start_soon(kill)
    finally:
        cluster.add_node(num_cpus=1, object_store_memory=NODE_STORE_BYTES)
        cluster.wait_for_nodes()
    db = tmp_path / "ray.db"
    assert summary["status"] == "succeeded"
    lost = rows(db, "SELECT error FROM attempts WHERE status = 'failed'")
    assert lost and all("lost on the Ray cluster" in e for (e,) in lost), lost
    per_task = rows(db, "SELECT SUM(status = 'succeeded') FROM attempts GROUP BY task_id")
    assert per_task == [(1,)] * 16


async def test_the_rate_governor_and_the_journal_hold_for_attempts_on_the_cluster(
    cluster: Any, tmp_path: Path
) -> None:
    """40 llm attempts at once on the cluster through the real Replicate provider (its fake on
    127.0.0.1) at 600 creations a minute: their calls are made in the driver, so they pass its
    one governor (a burst of 10, then its steady rate; 40 at once without it) and every
    prediction id is journaled."""
    from swarm.providers.replicate import ReplicateProvider
    from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate

    tasks = [{"id": f"q{i}", "kind": "llm", "prompt": f"q{i}"} for i in range(40)]
    with FakeReplicate() as fake:
        provider = ReplicateProvider(FAKE_TOKEN, base_url=fake.base_url, rate_limit=600)
        try:
            summary = await execute(tmp_path, tasks, "ray", provider)
        finally:
            await provider.aclose()
        creations = fake.creation_attempts()
        most_in_a_second = fake.max_creations_in(1.0)
    assert summary["status"] == "succeeded"
    assert len(creations) == 40
    assert most_in_a_second <= 21, most_in_a_second  # burst 10 + about 10 a second
    assert creations[-1].t - creations[0].t >= 2.5
    refs = rows(tmp_path / "ray.db", "SELECT COUNT(DISTINCT ref) FROM calls")
    assert refs == [(40,)]

"""The Ray executor: chosen kinds' attempts run as Ray tasks on a cluster, the rest locally.

Ray as it is meant to be used: one ``num_cpus=1`` task per attempt (no fractional CPUs, which
start a process per task), Ray's own retries off (``max_retries=0``: the scheduler owns
retries), refs awaited through ``asyncio.wrap_future(ref.future())`` (ray#45895, #31606), and
``ray.cancel`` when the driver gives up on the attempt (timeout, budget stop, cancel, Ctrl-C).
Model-bound kinds (``llm``, ``agent``, ``orchestrator``) run on async actors (one attempt host
per node, many attempts each) and their model calls come back to the driver through a mailbox
actor on the driver's node: the driver makes them on the attempt's own context, so the run's
budget gate, rate governor and call journal stay single. A lost worker, node or actor is
:class:`~swarm.errors.AttemptLost`, a retryable failure recorded as such. What runs on the
nodes is ``swarm/runtime/ray_remote.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from functools import cache, partial
from types import ModuleType
from typing import Any, ClassVar

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from swarm.errors import AttemptLost, ConfigError, WorkerCrashed
from swarm.providers.base import ModelRequest
from swarm.runtime.executor import AttemptOutcome, AttemptSpec
from swarm.runtime.model_channel import CallAnswer, serve_call
from swarm.store.ops import StepRecord
from workers.base import TaskContext, Worker

INSTALL_HINT = "install the extra: pip install 'swarm-harness[ray]'"
MODEL_KINDS = frozenset({"llm", "agent", "orchestrator"})
"""Model-bound kinds: on async actors, their calls served by the driver through the mailbox
(an agent or orchestrator whose task names MCP or fetch tools runs in the driver, where the
run's tool sessions are). An orchestrator's turn comes back with what it spawns and waits on:
the driver records it as a local turn."""
TOOL_KINDS = frozenset({"agent", "orchestrator"})
RAY_KINDS = frozenset({"code"}) | MODEL_KINDS
"""Kinds that may run on the cluster (the others write files or grow the run: they stay)."""
HOST_CONCURRENCY = 1000
"""Attempts one attempt host (an async actor, one per node) runs at once."""
OBJECT_STORE_BYTES = 200 * 2**20
"""The object store of a local cluster started by swarm (Ray's default is 30% of memory):
attempts ship small specs and outcomes, and small machines should not give up their memory."""
Key = tuple[str, int]
"""An attempt: (task id, attempt number)."""
PRECHECK_S = 5.0
"""How long the address's TCP precheck waits before saying the cluster is unreachable."""


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def import_ray() -> ModuleType:
    if not ray_installed():
        raise ConfigError("--executor ray needs Ray, which is not installed", hint=INSTALL_HINT)
    return importlib.import_module("ray")


def check_kinds(kinds: Collection[str]) -> frozenset[str]:
    """The kinds to ship, refused if empty or if one of them needs the driver's provider."""
    chosen = frozenset(k.strip() for k in kinds if k.strip())
    wrong = sorted(chosen - RAY_KINDS)
    if not chosen or wrong:
        what = f"kind(s) {', '.join(wrong)} cannot" if wrong else "no kind given: nothing would"
        raise ConfigError(
            f"--ray-kinds: {what} run on the Ray cluster",
            hint=f"kinds that run on the cluster: {', '.join(sorted(RAY_KINDS))} "
            "(model-bound kinds run in the driver)",
        )
    return chosen


def check_address(address: str, timeout_s: float = PRECHECK_S) -> None:
    """Refuse an address whose port does not answer, before anything is written."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(
            f"Ray address {address!r} is not host:port",
            hint="give the head node's GCS address, e.g. 10.0.0.5:6379 (SWARM_RAY_ADDRESS)",
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError(
            f"Ray cluster at {address} does not answer ({exc})",
            hint="start it (`ray start --head`), or check the address and that its port is "
            "reachable from here",
        ) from None


class RayExecutor:
    """Ships the attempts of ``kinds`` to the connected Ray cluster; runs the others here."""

    name: ClassVar[str] = "ray"

    def __init__(self, ray: ModuleType, kinds: frozenset[str], tg: TaskGroup) -> None:

        self._ray = ray
        self.kinds = kinds
        self._tg = tg
        self._remote = _remote_attempt(ray)
        self._mailbox: Any = None
        self._hosts: list[Any] = []
        self._turn = 0
        self._live: dict[Key, TaskContext] = {}
        """The driver-side context of each model-bound attempt on the cluster."""
        self._serving: dict[Key, set[anyio.CancelScope]] = {}

    def start_actors(self) -> None:
        """The mailbox on this node (model calls come here) and one attempt host per node."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from swarm.runtime import ray_remote

        ray = self._ray
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        actor = {"num_cpus": 0, "max_restarts": 0, "max_task_retries": 0}
        mailbox = ray.remote(ray_remote.Mailbox)
        self._mailbox = mailbox.options(
            max_concurrency=10 * HOST_CONCURRENCY, scheduling_strategy=here, **actor
        ).remote()
        host = ray.remote(ray_remote.AttemptHost)
        self._host_class = host.options(
            max_concurrency=HOST_CONCURRENCY, scheduling_strategy="SPREAD", **actor
        )
        nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
        self._hosts = [  # one on each node (a replacement for a lost one goes anywhere)
            host.options(
                max_concurrency=HOST_CONCURRENCY,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
                **actor,
            ).remote()
            for node in nodes
        ] or [self._host_class.remote()]

    def stop_actors(self) -> None:
        """End the run's actors (a cluster outlives its runs: nothing of one may stay)."""
        for actor in [self._mailbox, *self._hosts]:
            if actor is not None:
                self._ray.kill(actor)
        self._mailbox, self._hosts = None, []

    async def run(self, ctx: TaskContext, worker: Worker) -> str:
        kind = ctx.spec.kind
        if kind not in self.kinds or (kind in TOOL_KINDS and ctx.spec.tools):
            return await worker.run(ctx)
        spec = AttemptSpec.of(ctx)
        if kind not in MODEL_KINDS:
            return (await self._outcome(self._remote.remote(spec))).apply(ctx)
        key = (spec.task.id, spec.attempt)
        slot = self._turn % len(self._hosts)
        self._turn += 1
        self._live[key] = ctx
        try:
            outcome = await self._outcome(self._hosts[slot].run.remote(spec, self._mailbox), slot)
        except BaseException:  # given up on, or lost: its calls in flight end with it
            for scope in self._serving.get(key, ()):
                scope.cancel()
            self._mailbox.drop.remote(key, CallAnswer(None, None, AttemptLost("attempt ended")))
            raise
        finally:
            del self._live[key]
            self._serving.pop(key, None)
        return outcome.apply(ctx)

    async def _outcome(self, ref: Any, host: int | None = None) -> AttemptOutcome:
        ray = self._ray
        try:
            outcome: AttemptOutcome = await asyncio.wrap_future(ref.future())
        except (anyio.get_cancelled_exc_class(), KeyboardInterrupt):
            ray.cancel(ref)  # stops the remote work (the loop there is interrupted)
            raise
        except ray.exceptions.RayTaskError as exc:  # raised by swarm's code on the node
            raise WorkerCrashed(
                f"the Ray task failed on its node: {str(exc).splitlines()[-1]} (is "
                "swarm-harness installed on every node, at the driver's version?)"
            ) from None
        except ray.exceptions.RayError as exc:  # the worker, node, actor or object was lost
            if host is not None and isinstance(exc, ray.exceptions.RayActorError):
                self._hosts[host] = self._host_class.remote()  # a new host for the next ones
            raise AttemptLost(f"lost on the Ray cluster: {type(exc).__name__}: {exc}") from None
        return outcome

    async def serve_mailbox(self) -> None:
        """Take the model calls remote attempts post, and serve each beside the others."""
        while True:
            batch = await asyncio.wrap_future(self._mailbox.take.remote().future())
            for call_id, key, request, steps in batch:
                self._tg.start_soon(self._serve, call_id, key, request, steps)

    async def _serve(
        self, call_id: int, key: Key, request: ModelRequest, steps: list[StepRecord]
    ) -> None:
        ctx = self._live.get(key)
        if ctx is None:
            answer = CallAnswer(None, None, AttemptLost("the attempt ended before its call"))
        else:
            scope = anyio.CancelScope()
            self._serving.setdefault(key, set()).add(scope)
            try:
                with scope:
                    answer = await _served(ctx, request, steps)
            finally:
                self._serving.get(key, set()).discard(scope)
            if scope.cancelled_caught:
                return
        self._mailbox.answer.remote(call_id, answer)


async def _served(ctx: TaskContext, request: ModelRequest, steps: list[StepRecord]) -> CallAnswer:
    try:
        return await serve_call(ctx, request, steps)
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as exc:  # a bug must fail the attempt, not the run
        return CallAnswer(None, None, WorkerCrashed(f"serving a call: {type(exc).__name__}"))


@cache
def _remote_attempt(ray: ModuleType) -> Any:
    """The Ray task of a ``code`` attempt, made once per process: each new remote function is
    exported again to the cluster, and its first call on each worker pays for it (0.5-3 s)."""
    from swarm.runtime import ray_remote

    return ray.remote(num_cpus=1, max_retries=0)(ray_remote.run_attempt)


def init_kwargs(address: str | None) -> dict[str, Any]:
    """``ray.init``'s arguments: an existing cluster, or a small local one."""
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": "WARNING"}
    if address is not None:
        return {"address": address, **common}
    return {
        "num_cpus": os.cpu_count() or 1,
        "object_store_memory": OBJECT_STORE_BYTES,
        "include_dashboard": False,
        **common,
    }


@asynccontextmanager
async def ray_executor(address: str | None, kinds: Collection[str]) -> AsyncIterator[RayExecutor]:
    """Connect to the cluster at ``address`` (a local one if None) for the body; a Ray already
    connected in this process is used as it is and left connected."""
    ray = import_ray()
    chosen = check_kinds(kinds)
    owned = not ray.is_initialized()
    if owned:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        await anyio.to_thread.run_sync(partial(ray.init, **init_kwargs(address)))
    try:
        async with anyio.create_task_group() as tg:
            executor = RayExecutor(ray, chosen, tg)
            if chosen & MODEL_KINDS:
                await anyio.to_thread.run_sync(executor.start_actors)
                tg.start_soon(executor.serve_mailbox)
            try:
                yield executor
            finally:
                tg.cancel_scope.cancel()
                executor.stop_actors()
    finally:
        if owned:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(ray.shutdown)

"""The Ray executor: chosen kinds' attempts run as Ray tasks on a cluster, the rest locally.

Ray as it is meant to be used: one ``num_cpus=1`` task per attempt (no fractional CPUs, which
start a process per task), Ray's own retries off (``max_retries=0``: the scheduler owns
retries), refs awaited through ``asyncio.wrap_future(ref.future())`` (ray#45895, #31606), and
``ray.cancel`` when the driver gives up on the attempt (timeout, budget stop, cancel, Ctrl-C).
A lost worker or node is :class:`~swarm.errors.AttemptLost`, a retryable failure recorded as
such. What runs on the node is ``swarm/runtime/ray_remote.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from functools import partial
from types import ModuleType
from typing import Any, ClassVar

import anyio
import anyio.to_thread

from swarm.errors import AttemptLost, ConfigError, WorkerCrashed
from swarm.runtime.executor import AttemptOutcome, AttemptSpec
from workers.base import TaskContext, Worker

INSTALL_HINT = "install the extra: pip install 'swarm-harness[ray]'"
RAY_KINDS = frozenset({"code"})
"""Kinds that may run on the cluster: those that make no model call (a remote attempt has no
provider, budget or journal; model-bound kinds stay in the driver's process)."""
OBJECT_STORE_BYTES = 200 * 2**20
"""The object store of a local cluster started by swarm (Ray's default is 30% of memory):
attempts ship small specs and outcomes, and small machines should not give up their memory."""
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

    def __init__(self, ray: ModuleType, kinds: frozenset[str]) -> None:
        self._ray = ray
        self.kinds = kinds
        from swarm.runtime.ray_remote import run_attempt

        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_attempt)

    async def run(self, ctx: TaskContext, worker: Worker) -> str:
        if ctx.spec.kind not in self.kinds:
            return await worker.run(ctx)
        outcome = await self._remote_outcome(AttemptSpec.of(ctx))
        return outcome.apply(ctx)

    async def _remote_outcome(self, spec: AttemptSpec) -> AttemptOutcome:
        ray = self._ray
        ref = self._remote.remote(spec)
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
        except ray.exceptions.RayError as exc:  # the worker, node or object was lost
            raise AttemptLost(f"lost on the Ray cluster: {type(exc).__name__}: {exc}") from None
        return outcome


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
        yield RayExecutor(ray, chosen)
    finally:
        if owned:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(ray.shutdown)

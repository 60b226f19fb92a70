"""The ray executor against the local one, on this machine.

    python benchmarks/bench_ray.py            # re-runs itself in a loopback-only namespace

Ray registers the machine's interface address for its nodes; inside ``unshare -n`` (loopback
only) it falls back to 127.0.0.1, so the benchmark keeps every byte on loopback, like the tests.
Parts, each on a fresh ``ray.cluster_utils.Cluster`` (nodes of 1 CPU each):

- **start**: seconds to start a 2-node cluster and connect the driver;
- **overhead**: a chain of no-op ``code`` tasks and a chain of 1 s ``code`` tasks, local vs
  ray: wall ms per attempt (a chain has one attempt in flight, so this is latency, not
  throughput; a ``code`` attempt starts a sandboxed Python, ~70 ms, on either executor);
- **llm**: a chain of no-op ``llm`` tasks (an instant scripted model: the price of a remote
  attempt whose call is served by the driver through the mailbox), and 300 ``llm`` tasks at
  once whose calls take 2 s each (300 in flight: makespan and efficiency 2 s ÷ makespan);
- **cpu**: 8 independent ``code`` tasks of 2 s of CPU each, local (all at once on this
  machine's cores) vs ray on 1 node and on 2 nodes of 1 CPU each. On a 2-core machine the two
  nodes share the same cores as the local run: the figures show Ray's placement (one task per
  CPU, queued beyond) and its overhead, not a speed-up from a second machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swarm.plan import Plan  # noqa: E402
from swarm.providers.base import ModelRequest  # noqa: E402
from swarm.runtime import run as runs  # noqa: E402
from swarm.store.store import Store  # noqa: E402
from tests.fakes import ScriptedProvider  # noqa: E402

NOOP = "print(1)"
SLEEP_1S = "import time\ntime.sleep(1)\nprint(1)"
CPU_2S = "import time\nt = time.process_time()\nwhile time.process_time() - t < 2: pass\nprint(1)"


def chain(n: int, source: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"t{i}",
            "kind": "code",
            "deps": [f"t{i - 1}"] if i else [],
            "config": {"code": source},
        }
        for i in range(n)
    ]


def wide(n: int, source: str) -> list[dict[str, Any]]:
    return [{"id": f"t{i}", "kind": "code", "config": {"code": source}} for i in range(n)]


def llm_chain(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"q{i}", "kind": "llm", "prompt": f"q{i}", "deps": [f"q{i - 1}"] if i else []}
        for i in range(n)
    ]


def llm_wide(n: int) -> list[dict[str, Any]]:
    return [{"id": f"q{i}", "kind": "llm", "prompt": f"q{i}"} for i in range(n)]


async def _two_seconds(request: ModelRequest) -> str:
    await anyio.sleep(2)
    return "ok"


async def _makespan(
    tasks: list[dict[str, Any]], executor: str, folder: Path, slow: bool = False
) -> float:
    db = folder / f"{executor}-{time.monotonic_ns()}.db"
    store = await Store.open(db)
    try:
        options = runs.RunOptions(
            artifacts_dir=str(folder / "runs"), executor=executor, ray_kinds=("code", "llm")
        )
        plan = Plan.model_validate(
            {"goal": "bench", "tasks": tasks, "budget": {"max_concurrency": 300}}
        )
        provider = ScriptedProvider(script=_two_seconds if slow else None)
        started = time.perf_counter()
        summary = await runs.execute(store, plan, provider, options)
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    assert summary["status"] == "succeeded", summary
    return elapsed


def makespan(tasks: list[dict[str, Any]], executor: str, folder: Path, slow: bool = False) -> float:
    return anyio.run(_makespan, tasks, executor, folder, slow)


@contextmanager
def cluster(nodes: int) -> Iterator[float]:
    """A fresh cluster of ``nodes`` 1-CPU nodes with the driver connected; yields its start."""
    import ray
    from ray.cluster_utils import Cluster

    started = time.perf_counter()
    head = {"num_cpus": 1, "object_store_memory": 100 * 2**20, "include_dashboard": False}
    made = Cluster(initialize_head=True, head_node_args=head)
    for _ in range(nodes - 1):
        made.add_node(num_cpus=1, object_store_memory=100 * 2**20)
    ray.init(address=made.address, log_to_driver=False, logging_level="WARNING")
    made.wait_for_nodes()
    try:
        yield time.perf_counter() - started
    finally:
        ray.shutdown()
        made.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, default=20, help="attempts in each chain")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    n = args.chain
    local_noop = makespan(chain(n, NOOP), "local", folder) / n
    local_1s = makespan(chain(5, SLEEP_1S), "local", folder) / 5
    local_cpu = makespan(wide(8, CPU_2S), "local", folder)
    local_llm = makespan(llm_chain(50), "local", folder) / 50
    local_300 = makespan(llm_wide(300), "local", folder, slow=True)
    with cluster(2) as start_s:
        makespan(chain(2, NOOP), "ray", folder)  # warm the nodes' worker processes
        ray_noop = makespan(chain(n, NOOP), "ray", folder) / n
        ray_1s = makespan(chain(5, SLEEP_1S), "ray", folder) / 5
        ray_llm = makespan(llm_chain(50), "ray", folder) / 50
        ray_300 = makespan(llm_wide(300), "ray", folder, slow=True)
        ray_cpu_2 = makespan(wide(8, CPU_2S), "ray", folder)
    with cluster(1):
        ray_cpu_1 = makespan(wide(8, CPU_2S), "ray", folder)
    print(f"cluster start (2 nodes, driver connected): {start_s:.1f} s")
    print(
        f"no-op code chain of {n}: local {local_noop * 1e3:.1f} ms/attempt, "
        f"ray {ray_noop * 1e3:.1f} ms/attempt ({ray_noop / local_noop:.2f}x)"
    )
    print(
        f"1 s code chain of 5: local {local_1s * 1e3:.0f} ms/attempt, "
        f"ray {ray_1s * 1e3:.0f} ms/attempt (+{(ray_1s - local_1s) * 1e3:.0f} ms)"
    )
    print(f"no-op llm chain of 50: local {local_llm * 1e3:.1f}, ray {ray_llm * 1e3:.1f} ms/attempt")
    print(
        f"300 llm tasks of 2 s calls at once: local {local_300:.2f} s (efficiency "
        f"{2 / local_300:.2f}), ray {ray_300:.2f} s (efficiency {2 / ray_300:.2f})"
    )
    print(
        f"8 x 2 s CPU code tasks: local {local_cpu:.2f} s, ray 1 node {ray_cpu_1:.2f} s, "
        f"ray 2 nodes {ray_cpu_2:.2f} s ({os.cpu_count()} cores on this machine)"
    )


def only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


if __name__ == "__main__":
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if only_loopback():
        main()
    else:  # keep Ray on loopback: the same script inside a network namespace
        inner = f"ip link set lo up && exec {sys.executable} {' '.join(sys.argv)}"
        sys.exit(subprocess.call(["unshare", "-n", "sh", "-c", inner]))

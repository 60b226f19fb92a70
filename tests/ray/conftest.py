"""A real 2-node local Ray cluster for the tests of the ray executor, started once per session
inside the loopback-only network namespace that ``test_in_namespace.py`` runs them in.

Ray registers the machine's interface address for its nodes even when told 127.0.0.1; in a
namespace whose only interface is ``lo`` it falls back to loopback, so no test traffic leaves
the machine's loopback.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

IN_NAMESPACE = os.environ.get("SWARM_RAY_NETNS") == "1"
"""Set by ``test_in_namespace.py`` for the pytest it starts inside the namespace."""
NODE_STORE_BYTES = 80 * 2**20
"""Each test node's object store (the tests ship small specs and outcomes)."""

inside_namespace = pytest.mark.skipif(
    not IN_NAMESPACE,
    reason="runs inside the loopback-only network namespace that "
    "tests/ray/test_in_namespace.py starts (Ray must not touch external interfaces)",
)


def only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """Two nodes of one CPU each; the driver (this process) is connected to the head."""
    assert only_loopback(), "refusing to start Ray outside a loopback-only namespace"
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    head = {"num_cpus": 1, "object_store_memory": NODE_STORE_BYTES, "include_dashboard": False}
    made = Cluster(initialize_head=True, head_node_args=head)
    made.add_node(num_cpus=1, object_store_memory=NODE_STORE_BYTES)
    ray.init(address=made.address, log_to_driver=False, logging_level="WARNING")
    made.wait_for_nodes()
    try:
        yield made
    finally:
        ray.shutdown()
        made.shutdown()

"""Runs the Ray tests inside a loopback-only network namespace, so the README's `python -m
pytest` runs them too: `unshare -n` as root (else `unshare -rn`, a user namespace), then
`ip link set lo up`, then pytest on tests/ray with ``SWARM_RAY_NETNS=1``. It skips, saying
why, where Ray is not installed or no namespace can be made."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ray.conftest import IN_NAMESPACE

ROOT = Path(__file__).resolve().parents[2]


def _unshare() -> list[str] | None:
    """The command that makes a namespace here, or None if none can be made."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    for command in (["unshare", "-n"], ["unshare", "-rn"]):
        probe = [*command, "sh", "-c", "ip link set lo up"]
        if subprocess.run(probe, capture_output=True, timeout=30).returncode == 0:
            return command
    return None


@pytest.mark.timeout(900)
def test_the_ray_tests_pass_inside_a_loopback_only_namespace(tmp_path: Path) -> None:
    if IN_NAMESPACE:
        pytest.skip("already inside the namespace")
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the ray extra is not installed: pip install -e '.[ray]' -c constraints.txt")
    unshare = _unshare()
    if unshare is None:
        pytest.skip(
            "cannot make a network namespace here (needs unshare and ip, and root or user "
            "namespaces): Ray's test traffic must stay on loopback, so its tests do not run"
        )
    inner = (
        "ip link set lo up && exec "
        f"{sys.executable} -m pytest -q -p no:cacheprovider -x --basetemp={tmp_path / 'pt'} "
        "tests/ray"
    )
    env = {**os.environ, "SWARM_RAY_NETNS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(
        [*unshare, "sh", "-c", inner],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    print(done.stdout[-6000:])  # the inner run's test lines, shown with -s or on failure
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and " failed" not in done.stdout

"""Hostile code in the real sandbox, with small limits: each attack is contained and bounded.

The default sandbox is tested wherever it runs; the fallback without namespaces (a dedicated
uid, resource limits and a sweep of that uid) is tested too when a Python every user may run is
installed. Tests that need what only root can do (another uid) or a kernel feature say so when
they skip.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from workers.sandbox import Limits, ProcessSandbox, SandboxResult
from workers.sandbox_host import (
    PYTHON,
    SAFE_ENV,
    UidPool,
    secret_names,
    system_python,
    world_reachable,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux's"),
]
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="a uid of the code's own needs root")
SMALL = Limits(wall_s=10, cpu_s=5, memory_mb=128, file_mb=1, nproc=8, tmp_mb=4)


class RecordingPool(UidPool):
    """The uid pool, remembering which uids it gave out."""

    def __init__(self) -> None:
        super().__init__()
        self.given: list[int] = []

    def acquire(self) -> int:
        uid = super().acquire()
        self.given.append(uid)
        return uid


RUNNABLE_PYTHON = world_reachable(PYTHON) or system_python(PYTHON) is not None
"""Without a mount namespace the code's uid needs a Python it may run."""


def _default() -> ProcessSandbox:
    return ProcessSandbox(uids=RecordingPool())


def _fallback() -> ProcessSandbox:
    """No namespaces: as root, a uid of its own and rlimits; where swarm's Python lies in a
    directory that uid cannot enter, the sandbox picks a system Python by itself."""
    return ProcessSandbox(namespaces=(), uids=RecordingPool())


MODES = [
    pytest.param(_default, id="namespaces"),
    pytest.param(
        _fallback,
        id="fallback",
        marks=pytest.mark.skipif(
            not (ROOT and RUNNABLE_PYTHON),
            reason="the fallback test needs root and a Python every user may run",
        ),
    ),
]


def _probe() -> dict[str, Any]:
    """What the default sandbox manages to apply on this machine."""

    async def main(workspace: Path) -> SandboxResult:
        return await ProcessSandbox().run("pass", workspace=workspace, limits=SMALL)

    if sys.platform != "linux":
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        return anyio.run(main, Path(tmp)).isolation


ISOLATION = _probe()


def needs(*namespaces: str) -> pytest.MarkDecorator:
    """Skip unless the kernel lets the default sandbox enter these namespaces (probed once)."""
    return pytest.mark.skipif(
        "namespaces" in ISOLATION and not set(namespaces) <= set(ISOLATION["namespaces"]),
        reason=f"this kernel/container refuses the {', '.join(namespaces)} namespace(s)",
    )


def processes_of(uid: int) -> list[int]:
    """Live processes of ``uid`` (zombies wait for a reaper outside the sandbox's control)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            found.append(int(name))
    return found


async def assert_nothing_left(sandbox: ProcessSandbox) -> None:
    pool = sandbox.uids
    assert isinstance(pool, RecordingPool)
    for uid in pool.given:
        for _ in range(50):
            if not processes_of(uid):
                break
            await anyio.sleep(0.05)
        assert processes_of(uid) == [], f"processes of sandbox uid {uid} survived"
    assert not pool.in_use


def entries(path: Path) -> list[Path]:
    return list(path.iterdir())


def owners(path: Path) -> set[int]:
    """The owners of a directory and what is in it (links themselves, not their targets)."""
    return {path.lstat().st_uid} | {p.lstat().st_uid for p in path.rglob("*")}


def escaped(workspace: Path, targets: list[str]) -> list[str]:
    """The targets that exist on this side of the sandbox."""
    found = []
    for target in targets:
        host = Path(target) if target.startswith("/") else (workspace / target).resolve()
        if host.exists():
            found.append(f"{target} -> {host}")
    return found


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "run" / "work" / "t"
    path.mkdir(parents=True)
    return path


async def test_a_clean_run(workspace: Path) -> None:
    sandbox = _default()
    code = (
        "import json, os, sys\n"
        "print(json.dumps({'env': sorted(os.environ), 'uid': os.getuid(), "
        "'stdin': sys.stdin.read(), 'flags': [sys.flags.isolated, sys.flags.no_site]}))"
    )
    result = await sandbox.run(code, workspace=workspace, stdin=b"hello", limits=SMALL)
    assert result.ok, result
    seen = json.loads(result.stdout)
    assert seen["env"] == sorted(SAFE_ENV)
    assert seen["stdin"] == "hello"
    assert seen["flags"] == [1, 1]
    if ROOT:
        assert seen["uid"] != 0 and result.isolation["uid"] == seen["uid"]
        assert owners(workspace) == {0}  # handed back
    assert result.summary()["failure"] is None
    await assert_nothing_left(sandbox)


async def test_large_code_and_its_tracebacks(workspace: Path) -> None:
    """Code goes in through an open file, not the command line: no size limit of an argument."""
    big = "\n".join(f"x{i} = 'é' * 10  # ünïcode" for i in range(9000)) + "\nprint(x8999)"
    assert len(big.encode()) > 256 * 1024
    result = await _default().run(big, workspace=workspace, limits=SMALL)
    assert result.ok and result.stdout.strip() == "é" * 10
    result = await _default().run("x = 1\nraise ValueError('boom')", workspace=workspace)
    assert 'File "<code>", line 2' in result.stderr and "ValueError: boom" in result.stderr
    result = await _default().run("print('\ud800')", workspace=workspace, limits=SMALL)
    assert not result.ok and result.deterministic


@pytest.mark.parametrize("make", MODES)
async def test_no_secret_is_visible(
    make: Any, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is in this process's environment and in the initial environment of another
    process of the same user (as the swarm process's would be): the code finds it nowhere."""
    secret = "r8_sekrit_value_4242"
    monkeypatch.setenv("REPLICATE_API_TOKEN", secret)
    monkeypatch.setenv("OTHER_SERVICE_KEY", secret)
    holder = await anyio.open_process(["sleep", "30"], env={"REPLICATE_API_TOKEN": secret})
    try:
        code = f"""
import glob, os
found = [k for k, v in os.environ.items() if {secret!r} in v]
for path in glob.glob('/proc/*/environ') + ['/proc/{holder.pid}/environ', '/proc/1/environ']:
    try:
        if {secret!r}.encode() in open(path, 'rb').read():
            found.append(path)
    except OSError:
        pass
print('found', found)
"""
        sandbox = make()
        result = await sandbox.run(code, workspace=workspace, limits=SMALL)
    finally:
        holder.kill()
        await holder.aclose()
    assert result.ok, result
    assert "found []" in result.stdout
    assert secret not in result.stdout + result.stderr
    await assert_nothing_left(sandbox)


@needs_root
@needs("mount")
async def test_writes_outside_the_workspace_are_contained(workspace: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    victim.chmod(0o644)
    tag = f"swarm-escape-{os.getpid()}-{time.monotonic_ns()}"
    targets = [
        "../escape.txt",
        "../../escape.txt",
        str(tmp_path / "escape.txt"),
        f"/tmp/{tag}",
        f"/var/tmp/{tag}",
        f"/dev/shm/{tag}",
        f"/etc/{tag}",
        f"/root/{tag}",
        "link-to-victim",
    ]
    code = f"""
import os
os.symlink({str(victim)!r}, 'link-to-victim')
open('inside.txt', 'w').write('fine')
for target in {targets!r}:
    try:
        with open(target, 'w') as f:
            f.write('escaped')
        print('wrote', target)
    except OSError as exc:
        print('refused', target, type(exc).__name__)
"""
    result = await _default().run(code, workspace=workspace, limits=SMALL)
    assert result.ok, result
    assert victim.read_text() == "original" and victim.stat().st_uid == 0
    assert escaped(workspace, targets[:-1]) == []
    assert sorted(p.name for p in entries(workspace)) == ["inside.txt", "link-to-victim"]
    assert owners(workspace) == {0}  # handed back, via lchown, not through the link
    assert "refused ../escape.txt PermissionError" in result.stdout
    assert "refused link-to-victim" in result.stdout


@needs_root
async def test_hard_links_in_the_workspace_are_not_handed_over(
    workspace: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "root-only.txt"
    secret.write_text("root only")
    secret.chmod(0o600)
    os.link(secret, workspace / "linked.txt")
    code = "try:\n    open('linked.txt').read()\nexcept OSError as e:\n    print(type(e).__name__)"
    result = await _default().run(code, workspace=workspace, limits=SMALL)
    assert result.stdout.strip() == "PermissionError"
    assert secret.stat().st_uid == 0


@pytest.mark.parametrize("make", MODES)
async def test_a_fork_bomb_is_capped(make: Any, workspace: Path) -> None:
    sandbox = make()
    counting = """
import os, time
made = 0
for _ in range(300):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
    except OSError:
        break
print(made)
"""
    started = time.monotonic()
    result = await sandbox.run(counting, workspace=workspace, limits=SMALL)
    assert result.ok, result
    assert 0 < int(result.stdout) < SMALL.nproc
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    limits = Limits(wall_s=1.5, cpu_s=5, memory_mb=128, nproc=8)
    result = await sandbox.run(bomb, workspace=workspace, limits=limits)
    assert result.timed_out and not result.deterministic
    assert time.monotonic() - started < 15
    await assert_nothing_left(sandbox)
    assert (await anyio.run_process(["true"])).returncode == 0  # this machine still forks


async def test_a_memory_hog_gets_memory_error(workspace: Path) -> None:
    code = "hog = []\nwhile True:\n    hog.append(bytearray(16 * 1024 * 1024))"
    result = await _default().run(code, workspace=workspace, limits=SMALL)
    assert result.exit_code == 1 and "MemoryError" in result.stderr
    assert result.failure() == "exited with code 1" and result.deterministic


async def test_a_cpu_loop_hits_the_cpu_limit(workspace: Path) -> None:
    limits = Limits(wall_s=20, cpu_s=1, memory_mb=128)
    started = time.monotonic()
    result = await _default().run("while True:\n    pass", workspace=workspace, limits=limits)
    assert result.failure() == "CPU time limit of 1s reached"
    assert result.deterministic and time.monotonic() - started < 8


async def test_a_sleeper_hits_the_wall_clock(workspace: Path) -> None:
    limits = Limits(wall_s=0.5, memory_mb=128)
    started = time.monotonic()
    result = await _default().run("import time\ntime.sleep(60)", workspace=workspace, limits=limits)
    assert result.timed_out and "wall-clock limit of 0.5s" in (result.failure() or "")
    assert time.monotonic() - started < 5


async def test_huge_output_is_capped_while_reading(workspace: Path) -> None:
    limits = Limits(wall_s=20, memory_mb=128, stdout_bytes=64 * 1024, stderr_bytes=1024)
    flood = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)"
    started = time.monotonic()
    result = await _default().run(flood, workspace=workspace, limits=limits)
    assert result.output_exceeded and len(result.stdout) == 64 * 1024
    assert time.monotonic() - started < 5
    noisy = "import sys\nsys.stderr.write('e' * 5_000_000 + 'THE END')"
    result = await _default().run(noisy, workspace=workspace, limits=limits)
    assert result.ok and result.stderr.endswith("THE END")
    assert len(result.stderr) < 1100 and "bytes cut" in result.stderr


async def test_files_are_size_limited(workspace: Path) -> None:
    code = "with open('big.bin', 'wb') as f:\n    f.write(b'z' * 5_000_000)"
    result = await _default().run(code, workspace=workspace, limits=SMALL)
    assert not result.ok and result.deterministic
    assert (workspace / "big.bin").stat().st_size <= 1024 * 1024


@needs("net")
async def test_no_network(workspace: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"""
import socket
for address in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:
    try:
        socket.create_connection(address, timeout=2).close()
        print('connected', address)
    except OSError as exc:
        print('no', address, exc.errno)
"""
        result = await _default().run(code, workspace=workspace, limits=SMALL)
    assert result.ok and "connected" not in result.stdout, result.stdout
    assert "net" in result.isolation["namespaces"]


@pytest.mark.parametrize("make", MODES)
async def test_detached_children_do_not_survive(make: Any, workspace: Path) -> None:
    sandbox = make()
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    time.sleep(60)\n"
        "print('parent done')"
    )
    result = await sandbox.run(code, workspace=workspace, limits=SMALL)
    assert result.ok and result.stdout.strip() == "parent done"
    if not sandbox.namespaces and not world_reachable(PYTHON):
        assert result.isolation["python"] == system_python(PYTHON)
    await assert_nothing_left(sandbox)


async def test_cancellation_kills_the_process_group(workspace: Path) -> None:
    sandbox = _default()
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\ntime.sleep(60)"
    started = time.monotonic()
    with anyio.move_on_after(0.5):
        await sandbox.run(code, workspace=workspace, limits=Limits(wall_s=60))
    assert time.monotonic() - started < 5
    await assert_nothing_left(sandbox)


@needs_root
async def test_concurrent_runs_get_their_own_uids(tmp_path: Path) -> None:
    sandbox = _default()
    uids: list[str] = []

    async def one(i: int) -> None:
        ws = tmp_path / f"w{i}"
        ws.mkdir()
        result = await sandbox.run("import os\nprint(os.getuid())", workspace=ws, limits=SMALL)
        uids.append(result.stdout.strip())

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
    assert len(set(uids)) == 4


async def test_it_refuses_when_it_cannot_hide_secrets(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_API_TOKEN", "x")
    assert "SOME_API_TOKEN" in secret_names()
    sandbox = ProcessSandbox(namespaces=(), drop_privileges=False)
    result = await sandbox.run("open('ran', 'w')", workspace=workspace, limits=SMALL)
    assert result.refused and result.deterministic
    assert "refused" in (result.failure() or "")
    assert not (workspace / "ran").exists()

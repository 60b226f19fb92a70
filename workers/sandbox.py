"""The sandbox: untrusted Python (a plan's ``code`` task, an agent's ``python`` tool) runs in a
confined subprocess, behind the small :class:`Sandbox` protocol so tests can use a fake.

:class:`ProcessSandbox` starts ``python -I -S workers/sandbox_boot.py`` in a new session with an
environment built from an allow-list (nothing of this process's environment is passed on), its
working directory in the task's workspace. The bootstrap confines itself (namespaces, private
mounts, resource limits, a dedicated uid) and reports on a pipe what it applied; this side
enforces the wall-clock limit, caps the output while reading it, and kills the whole process
group on timeout, overflow or cancellation. ``docs/sandbox.md`` says what is and is not
isolated.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import anyio
import anyio.abc

from workers.sandbox_host import (
    NAMESPACES,
    PYTHON,
    SAFE_ENV,
    UIDS,
    UidPool,
    chown_tree,
    mount_plan,
    secret_names,
    system_python,
)

BOOT = str(Path(__file__).with_name("sandbox_boot.py"))


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one sandboxed run."""

    wall_s: float = 30.0
    """Wall-clock limit; the process group is killed when it is reached."""
    cpu_s: int = 10
    """CPU seconds per process (RLIMIT_CPU; SIGXCPU, then SIGKILL a second later)."""
    memory_mb: int = 512
    """Address space per process (RLIMIT_AS): allocations beyond it fail (MemoryError)."""
    file_mb: int = 64
    """Largest file the code may write (RLIMIT_FSIZE)."""
    nproc: int = 32
    """Processes and threads the code may have at once (RLIMIT_NPROC on its own uid)."""
    tmp_mb: int = 64
    """Size of each private tmpfs (``/tmp`` and the other shared writable directories)."""
    stdout_bytes: int = 1 << 20
    """Output beyond this kills the run; the first bytes are kept."""
    stderr_bytes: int = 16 << 10
    """The last bytes of stderr are kept (tracebacks end there)."""


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """How a sandboxed run ended, what it printed (capped), and what isolation was applied."""

    limits: Limits
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    output_exceeded: bool = False
    refused: bool = False
    error: str | None = None
    """The sandbox itself failed to set up or to start the interpreter."""
    isolation: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure() is None

    def failure(self) -> str | None:
        """None for a clean exit 0, else what went wrong, in words."""
        lim = self.limits
        if self.refused:
            return (
                "the sandbox refused to run the code: it cannot hide this process's environment, "
                "which holds secrets, on this machine (see docs/sandbox.md)"
            )
        if self.error:
            return f"the sandbox could not start the code: {self.error}"
        if self.timed_out:
            return f"wall-clock limit of {lim.wall_s:g}s reached; the process group was killed"
        if self.output_exceeded:
            return f"output exceeded {lim.stdout_bytes} bytes; the process group was killed"
        if self.signal == signal.SIGXCPU:
            return f"CPU time limit of {lim.cpu_s}s reached"
        if self.signal == signal.SIGXFSZ:
            return f"file size limit of {lim.file_mb} MB reached"
        if self.signal is not None:
            return f"killed by {signal.Signals(self.signal).name}"
        if self.exit_code is None:
            return "the sandboxed process ended without reporting its status"
        if self.exit_code != 0:
            return f"exited with code {self.exit_code}"
        return None

    @property
    def deterministic(self) -> bool:
        """Would running the same code again fail the same way? Timeouts and deaths by an
        outside signal may be the machine's fault, so they are worth a retry."""
        if self.timed_out:
            return False
        if self.refused or self.error or self.output_exceeded:
            return True
        if self.signal is not None:
            return self.signal in (signal.SIGXCPU, signal.SIGXFSZ)
        return self.exit_code is not None

    def summary(self) -> dict[str, Any]:
        """A small JSON-able record for step details."""
        return {
            "exit_code": self.exit_code,
            "signal": signal.Signals(self.signal).name if self.signal else None,
            "duration_s": round(self.duration_s, 3),
            "failure": self.failure(),
            "isolation": self.isolation,
        }


class Sandbox(Protocol):
    """Runs Python source in confinement; never raises for anything the code does."""

    async def run(
        self, code: str, *, workspace: Path, stdin: bytes = b"", limits: Limits = Limits()
    ) -> SandboxResult: ...


class _Capture:
    """Bytes read from a pipe, never more than ``cap`` of them kept."""

    def __init__(self, cap: int, *, keep_tail: bool) -> None:
        self.cap = cap
        self.keep_tail = keep_tail
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> bool:
        """Keep what fits; False once more than ``cap`` bytes have arrived."""
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.cap:
            if self.keep_tail:
                del self.data[: len(self.data) - self.cap]
            else:
                del self.data[self.cap :]
        return self.total <= self.cap

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        if self.keep_tail and self.total > self.cap:
            return f"[… {self.total - self.cap} bytes cut]\n{text}"
        return text


def _kill_group(process: anyio.abc.Process) -> None:
    # Only while the bootstrap has not been waited for: its pid (the group id) is still ours.
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _read_report(fd: int) -> list[dict[str, Any]]:
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(fd, 65536):
            data += chunk
    lines = []
    for line in data.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(line))
    return lines


@dataclass
class ProcessSandbox:
    """The real sandbox (Linux first; elsewhere only the limits and the scrubbed environment
    apply). ``namespaces`` may be narrowed, e.g. to test the fallbacks."""

    namespaces: tuple[str, ...] = NAMESPACES
    uids: UidPool = field(default_factory=lambda: UIDS)
    python: str = PYTHON
    """The interpreter for the code (and the bootstrap); any Python 3.8+ will do."""
    drop_privileges: bool = True
    """As root, run the code under a uid of its own (turned off only to test the refusal)."""

    async def run(
        self, code: str, *, workspace: Path, stdin: bytes = b"", limits: Limits = Limits()
    ) -> SandboxResult:
        workspace = await anyio.to_thread.run_sync(workspace.resolve)
        uid = self.uids.acquire() if os.geteuid() == 0 and self.drop_privileges else None
        result: SandboxResult | None = None
        try:
            if uid is not None:
                await anyio.to_thread.run_sync(chown_tree, workspace, uid, uid)
            result = await self._run(code, workspace, stdin, limits, uid)
        finally:
            if uid is not None:
                with anyio.CancelScope(shield=True):
                    if result is None or "pid" not in result.isolation.get("namespaces", ()):
                        await self._sweep(uid)
                    await anyio.to_thread.run_sync(
                        chown_tree, workspace, os.geteuid(), os.getegid()
                    )
                self.uids.release(uid)
        return result

    async def _run(
        self, code: str, workspace: Path, stdin: bytes, limits: Limits, uid: int | None
    ) -> SandboxResult:
        source = await anyio.to_thread.run_sync(_source_file, code)
        read_fd, write_fd = os.pipe()
        started = time.monotonic()
        try:
            try:
                config = self._config(source.fileno(), write_fd, limits, uid)
                process = await anyio.open_process(
                    [self.python, "-I", "-S", BOOT, json.dumps(config)],
                    cwd=workspace,
                    env=SAFE_ENV,
                    start_new_session=True,
                    pass_fds=(write_fd, source.fileno()),
                )
            finally:
                os.close(write_fd)
                source.close()
            out, err, timed_out, overflow = await _supervise(process, stdin, limits)
            report = _read_report(read_fd)
        finally:
            os.close(read_fd)
        return _result(limits, report, out, err, time.monotonic() - started, timed_out, overflow)

    def _config(self, code_fd: int, report_fd: int, limits: Limits, uid: int | None) -> Any:
        """What the bootstrap is told (on its command line: small, and no secret in it)."""
        hide, keep = mount_plan(self.python)
        return {
            "code_fd": code_fd,
            "report_fd": report_fd,
            "python": self.python,
            "fallback_python": system_python(self.python),
            "uid": uid,
            "namespaces": list(self.namespaces),
            "hide": list(hide),
            "keep": list(keep),
            "refuse_unisolated": bool(secret_names()),
            "cpu_s": limits.cpu_s,
            "memory_mb": limits.memory_mb,
            "file_mb": limits.file_mb,
            "nproc": limits.nproc,
            "tmp_mb": limits.tmp_mb,
        }

    async def _sweep(self, uid: int) -> None:
        """Kill whatever still runs under ``uid``; needed only where no PID namespace took the
        stragglers with it. Done by the bootstrap in sweep mode (as uid, ``kill(-1)``)."""
        with anyio.move_on_after(10):
            await anyio.run_process(
                [self.python, "-I", "-S", BOOT, json.dumps({"sweep_uid": uid})],
                env=SAFE_ENV,
                check=False,
            )


def _source_file(code: str) -> IO[bytes]:
    """The code in an unlinked temporary file, passed to the sandbox as an open descriptor."""
    source = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it after the spawn)
    source.write(code.encode("utf-8", errors="surrogatepass"))
    source.seek(0)
    return source


async def _supervise(
    process: anyio.abc.Process, stdin: bytes, limits: Limits
) -> tuple[_Capture, _Capture, bool, bool]:
    """Feed stdin, read the output under its caps, enforce the wall clock; whatever happens,
    the process group is killed and reaped before this returns (or raises)."""
    out = _Capture(limits.stdout_bytes, keep_tail=False)
    err = _Capture(limits.stderr_bytes, keep_tail=True)
    overflow = False
    try:
        with anyio.move_on_after(limits.wall_s) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_feed, process, stdin)
                tg.start_soon(_drain, process.stderr, err, None)
                overflow = not await _drain(process.stdout, out, process)
            await process.wait()
    finally:
        with anyio.CancelScope(shield=True):
            _kill_group(process)
            with anyio.move_on_after(10):
                await process.aclose()
    return out, err, scope.cancelled_caught, overflow


async def _feed(process: anyio.abc.Process, data: bytes) -> None:
    assert process.stdin is not None
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        if data:
            await process.stdin.send(data)
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await process.stdin.aclose()


async def _drain(
    stream: anyio.abc.ByteReceiveStream | None,
    capture: _Capture,
    process: anyio.abc.Process | None,
) -> bool:
    """Read a pipe to its end into ``capture``; on overflow kill ``process``'s group (if given)
    and stop. False if it overflowed that way."""
    assert stream is not None
    with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
        async for chunk in stream:
            if not capture.add(chunk) and process is not None:
                _kill_group(process)
                return False
    return True


def _result(
    limits: Limits,
    report: list[dict[str, Any]],
    out: _Capture,
    err: _Capture,
    duration: float,
    timed_out: bool,
    overflow: bool,
) -> SandboxResult:
    isolation: dict[str, Any] = {"env": "allow-list"}
    problems: list[str] = []
    end: dict[str, Any] = {}
    error = None
    refused = False
    for item in report:
        step = item.get("step")
        if step == "namespaces":
            isolation["namespaces"] = item["entered"]
        elif step == "mounts":
            isolation["private_mounts"] = item["hidden"]
            isolation["private_proc"] = item["proc"]
        elif step == "limits":
            isolation["nproc"] = f"{item['nproc']} ({item['nproc_scope']})"
            problems.extend(item.get("failed", ()))
        elif step == "user":
            isolation["uid"] = item["uid"]
            if item.get("python"):
                isolation["python"] = item["python"]
        elif step == "end":
            end = item
        elif step == "refused":
            refused = True
        elif step in ("setup", "exec"):
            error = item.get("error")
        elif item.get("ok") is False:
            problems.append(f"{step} {item.get('name') or item.get('path')}: {item.get('error')}")
    if problems:
        isolation["not_applied"] = problems
    return SandboxResult(
        limits=limits,
        exit_code=end.get("exit"),
        signal=end.get("signal"),
        stdout=out.text(),
        stderr=err.text(),
        duration_s=duration,
        timed_out=timed_out,
        output_exceeded=overflow,
        refused=refused,
        error=error,
        isolation=isolation,
    )

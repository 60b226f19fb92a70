"""The sandbox's bootstrap: runs as ``python -I -S sandbox_boot.py CONFIG`` and turns itself
into the confined process that executes untrusted code.

It is started by :class:`workers.sandbox.ProcessSandbox` with a scrubbed environment, in a new
session, with its working directory in the task's workspace. Standard library only (it runs
without site-packages). What it does, in order:

1. ``unshare`` new network, mount and PID namespaces (and, when not root, a user namespace
   first so that the others are allowed). Each that fails is reported and skipped.
2. forks. The child is PID 1 of the new PID namespace (the *init*): in the new mount namespace
   it mounts private tmpfs over the world-writable directories, hides directories that only
   root may enter (binding the interpreter back in read-only), and mounts a ``/proc`` that
   shows only the sandbox's own processes. It then forks the *user* process and reaps orphans;
   when the user process ends, init exits and the kernel kills everything left in the
   namespace.
3. the user process sets resource limits, drops to a dedicated uid (when root) with no
   supplementary groups and ``no_new_privs``, and ``exec``s ``python -I -S`` with a loader that
   reads the code from an inherited file.

Every step writes one JSON line to the report pipe, so the parent learns exactly what was
applied; the bootstrap finally kills its own process group, leaving nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
LOADER = """import os
with os.fdopen({fd}, "rb") as source:
    code = compile(source.read(), "<code>", "exec")
del os, source
exec(code, {{"__name__": "__main__"}})
"""
"""How the interpreter gets the code: from an inherited, already open file (no size limit as
an argument would have, no path the code's uid would need permission to open)."""

LINUX = sys.platform.startswith("linux")

_libc = ctypes.CDLL(None, use_errno=True)


class Report:
    """One JSON object per line on the report pipe (writes under PIPE_BUF are atomic)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, **fields: Any) -> None:
        with contextlib.suppress(OSError):
            os.write(self.fd, (json.dumps(fields) + "\n").encode())


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    if not hasattr(_libc, "unshare"):
        raise OSError(0, "unshare is not available on this system")
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    rc = _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    _check(rc, f"mount {target}")


def prctl(option: int, arg: int) -> None:
    if LINUX:  # the protections it sets have no portable equivalent
        _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), "prctl")


def _write_file(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def enter_namespaces(cfg: dict[str, Any], report: Report) -> set[str]:
    """Unshare what the kernel allows; returns the names of the namespaces entered."""
    entered: set[str] = set()
    if os.geteuid() != 0 and LINUX:
        uid, gid = os.getuid(), os.getgid()
        try:
            unshare(CLONE_NEWUSER)
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"{uid} {uid} 1")
            _write_file("/proc/self/gid_map", f"{gid} {gid} 1")
            entered.add("user")
        except OSError as exc:
            report.write(step="namespace", name="user", ok=False, error=str(exc))
    for name, flag in (("net", CLONE_NEWNET), ("mount", CLONE_NEWNS), ("pid", CLONE_NEWPID)):
        if name not in cfg["namespaces"]:
            continue
        try:
            unshare(flag)
            entered.add(name)
        except OSError as exc:
            report.write(step="namespace", name=name, ok=False, error=str(exc))
    report.write(step="namespaces", entered=sorted(entered))
    return entered


def _same(path: str, fd: int) -> bool:
    try:
        a, b = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def setup_mounts(cfg: dict[str, Any], keep: dict[str, int], proc: bool, report: Report) -> None:
    """Private tmpfs over shared writable and root-only directories; the interpreter bound back
    read-only where that hid it; a fresh ``/proc`` when in a new PID namespace."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    size = f"size={int(cfg['tmp_mb'])}m"
    hidden = []
    for path, mode in cfg["hide"]:
        try:
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"{size},mode={mode}")
            hidden.append(path)
        except OSError as exc:
            report.write(step="mount", path=path, ok=False, error=str(exc))
    for path, fd in keep.items():
        if _same(path, fd):
            continue
        os.makedirs(path, 0o755, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if proc:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    report.write(step="mounts", hidden=hidden, proc=proc)


def _own_threads(uid: int) -> int | None:
    """Tasks (threads) the real uid already has, which RLIMIT_NPROC counts too; None where
    there is no /proc to count them in."""
    if not os.path.isdir("/proc"):
        return None
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            count += int(fields.get("Threads", "1"))
    return count


def set_limits(cfg: dict[str, Any], nproc_scope: str, report: Report) -> None:
    cpu = int(cfg["cpu_s"])
    memory = int(cfg["memory_mb"]) * 1024 * 1024
    size = int(cfg["file_mb"]) * 1024 * 1024
    limits = {
        "RLIMIT_CPU": (cpu, cpu + 1),
        "RLIMIT_AS": (memory, memory),
        "RLIMIT_FSIZE": (size, size),
        "RLIMIT_CORE": (0, 0),
        "RLIMIT_NOFILE": (256, 256),
    }
    wanted = int(cfg["nproc"])
    nproc: int | None = wanted
    if nproc_scope == "shared":  # the count includes every process of this uid
        current = _own_threads(os.getuid())
        nproc = None if current is None else wanted + current
    elif nproc_scope == "user namespace":  # the bootstrap and init count there too
        nproc = wanted + 2
    if nproc is not None:
        limits["RLIMIT_NPROC"] = (nproc, nproc)
    failed = [] if nproc is not None else ["RLIMIT_NPROC: cannot count this user's processes"]
    for name, value in limits.items():
        try:
            resource.setrlimit(getattr(resource, name), value)
        except (OSError, ValueError, AttributeError) as exc:  # e.g. RLIMIT_AS on macOS
            failed.append(f"{name}: {exc}")
    report.write(step="limits", nproc=nproc, nproc_scope=nproc_scope, failed=failed)


def exec_user(cfg: dict[str, Any], entered: set[str], report: Report) -> None:
    """Limits, privileges, exec: the process that runs the untrusted code. Never returns."""
    try:
        uid = cfg["uid"]
        scope = "uid" if uid is not None else "user namespace" if "user" in entered else "shared"
        set_limits(cfg, scope, report)
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of uid cleared it
        python = cfg["python"]
        if uid is not None and "mount" not in entered and cfg.get("fallback_python"):
            python = cfg["fallback_python"]  # ours lies where the code's uid cannot go
        report.write(step="user", uid=os.getuid(), gid=os.getgid(), python=python)
        os.execv(python, [python, "-I", "-S", "-c", LOADER.format(fd=int(cfg["code_fd"]))])
    except BaseException as exc:
        report.write(step="exec", ok=False, error=f"{type(exc).__name__}: {exc}")
        os._exit(126)


def status_fields(status: int) -> dict[str, int]:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status)}


def run_init(cfg: dict[str, Any], entered: set[str], report: Report) -> None:
    """PID 1 of the sandbox: start the user process, reap orphans, report its end."""
    user = os.fork()
    if user == 0:
        exec_user(cfg, entered, report)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == user:
            report.write(step="end", **status_fields(status))
            os._exit(0)


def isolated_from_parent(cfg: dict[str, Any], entered: set[str]) -> bool:
    """Can the code read this machine's processes as their owner? Not if it runs under another
    uid, or sees only its own PID namespace through a private /proc."""
    return cfg["uid"] is not None or {"pid", "mount"} <= entered


def child(cfg: dict[str, Any], entered: set[str], keep: dict[str, int], report: Report) -> None:
    """The forked child: init of the new PID namespace, or directly the user process."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # In a new PID namespace the parent is invisible (getppid() is 0); outside one, a
        # parent that died before prctl took effect shows up as a changed ppid.
        if "pid" not in entered and os.getppid() != cfg["boot_pid"]:
            os._exit(1)
        if "mount" in entered:
            setup_mounts(cfg, keep, "pid" in entered, report)
    except BaseException as exc:
        report.write(step="setup", ok=False, error=f"{type(exc).__name__}: {exc}")
        os._exit(125)
    if "pid" in entered:
        run_init(cfg, entered, report)
    exec_user(cfg, entered, report)


def sweep(uid: int) -> None:
    """Kill every process of ``uid`` (``kill(-1)`` from that uid reaches exactly those)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    if "sweep_uid" in cfg:
        sweep(int(cfg["sweep_uid"]))
        return
    report = Report(int(cfg["report_fd"]))
    os.set_inheritable(report.fd, False)
    os.umask(0o022)
    cfg["boot_pid"] = os.getpid()
    entered = enter_namespaces(cfg, report)
    if cfg["refuse_unisolated"] and not isolated_from_parent(cfg, entered):
        report.write(step="refused", reason="cannot hide the parent's environment")
        os._exit(0)
    keep = {}
    if "mount" in entered:
        keep = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in cfg["keep"]}
    pid = os.fork()
    if pid == 0:
        child(cfg, entered, keep, report)
    _, status = os.waitpid(pid, 0)
    if "pid" not in entered:
        report.write(step="end", **status_fields(status))
        if cfg["uid"] is not None:  # without a PID namespace, detached children are found
            sweep(cfg["uid"])  # by their uid
    # Anything the code left running in this process group goes with us.
    os.killpg(0, signal.SIGKILL)


if __name__ == "__main__":
    main()

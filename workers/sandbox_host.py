"""What the host prepares for a sandboxed process (see :mod:`workers.sandbox`): the environment
it gets (an allow-list) and the secret names it must not see, the interpreter it may run, the
directories its bootstrap hides or binds back, its dedicated uid, and its workspace's owner."""

from __future__ import annotations

import contextlib
import os
import random
import re
import stat
import sys
from functools import cache
from pathlib import Path

PYTHON = os.path.realpath(sys.executable)
"""The base interpreter (a virtual environment's is only a link to it); run without site."""

SAFE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "PYTHONIOENCODING": "utf-8",
}
"""The whole environment of sandboxed code: an allow-list, never a copy of ours."""

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
"""Shared writable directories that get a private tmpfs inside the sandbox."""
NAMESPACES = ("net", "mount", "pid")


class UidPool:
    """Dedicated uids for concurrent sandboxes: each run gets a uid no other run in this process
    holds, so RLIMIT_NPROC (counted per uid) caps that run alone. Drawn at random from a high
    range no account uses, which also keeps two swarm processes apart in practice."""

    def __init__(self, base: int = 0x7A000000, size: int = 1 << 20) -> None:
        self.base = base
        self.size = size
        self.in_use: set[int] = set()
        self._random = random.SystemRandom()

    def acquire(self) -> int:
        while True:
            uid = self.base + self._random.randrange(self.size)
            if uid not in self.in_use:
                self.in_use.add(uid)
                return uid

    def release(self, uid: int) -> None:
        self.in_use.discard(uid)


UIDS = UidPool()
"""The one pool of sandbox uids for this process (a limiter of a resource, held explicitly)."""


def secret_names(environ: dict[str, str] | None = None) -> list[str]:
    """Variables of this process that look like secrets, including those in its initial
    environment block (what ``/proc/PID/environ`` shows, even after ``os.environ`` changes)."""
    names = set(os.environ if environ is None else environ)
    if environ is None:
        with contextlib.suppress(OSError):
            block = Path("/proc/self/environ").read_bytes()
            names |= {e.split(b"=", 1)[0].decode(errors="replace") for e in block.split(b"\0")}
    return sorted(n for n in names if n and SECRET_NAME.search(n))


@cache
def mount_plan(python: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """What the bootstrap mounts: (directories to hide under a private tmpfs with their mode,
    interpreter directories to bind back read-only if hiding covered them)."""
    keep: list[str] = []
    prefixes = {sys.base_prefix, sys.base_exec_prefix} if python == PYTHON else set()
    for path in sorted({os.path.dirname(os.path.dirname(python)), *prefixes}):
        real = os.path.realpath(path)
        if not any(real == k or real.startswith(k + os.sep) for k in keep):
            keep.append(real)
    hide: dict[str, str] = {d: "1777" for d in WORLD_WRITABLE if os.path.isdir(d)}
    for path in keep:
        parts = Path(path).parts
        for i in range(2, len(parts) + 1):
            ancestor = str(Path(*parts[:i]))
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                hide.setdefault(ancestor, "755")
                break
    return tuple(hide.items()), tuple(keep)


def world_reachable(path: str) -> bool:
    """Could a user with no rights of its own reach and run ``path``?"""
    try:
        parts = Path(path).parts
        dirs = [str(Path(*parts[:i])) for i in range(1, len(parts))]
        return all(os.stat(p).st_mode & stat.S_IXOTH for p in [*dirs, path])
    except OSError:
        return False


@cache
def system_python(python: str) -> str | None:
    """A Python any user may run, for when ``python`` is not one and the sandbox cannot bind it
    in (no mount namespace): the code needs only the standard library."""
    if world_reachable(python):
        return None
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"):
        real = os.path.realpath(candidate)
        if os.path.isfile(real) and world_reachable(real):
            return real
    return None


def chown_tree(root: Path, uid: int, gid: int, limit: int = 100_000) -> None:
    """Give the workspace to ``uid`` without ever following a link out of it: symlinks are
    changed themselves, and files with other hard links are left alone. Entries that cannot be
    changed (a path too long, say) are skipped: they stay with their previous owner."""
    os.chown(root, uid, gid, follow_symlinks=False)
    os.chmod(root, 0o700)
    stack, seen = [root], 0
    while stack and seen <= limit:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                seen += 1
                if seen > limit:
                    break
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(Path(entry.path))
                    elif info.st_nlink > 1:
                        continue
                    os.chown(entry.path, uid, gid, follow_symlinks=False)

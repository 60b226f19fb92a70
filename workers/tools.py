"""The agent's tools: Python in the sandbox, the dependencies' results, files in the task's
own workspace, and the MCP and fetch tools its task lists. A tool that cannot do what it was
asked raises :class:`ToolError` (or :class:`~swarm.errors.ToolCallError` for an MCP or fetch
call), whose message becomes the agent's observation; nothing a tool is asked can reach outside
the workspace, and no tool outside the task's list can be called.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from swarm.errors import ToolCallError
from swarm.mcp.names import FETCH, ToolDef, matches
from workers.actions import TOOL_ARGS, Action
from workers.sandbox import Limits, Sandbox

if TYPE_CHECKING:
    from swarm.mcp import RunTools
    from workers.fetch_tool import Fetcher

MAX_FILE_BYTES = 1 << 20
"""Largest file ``read_file`` returns and ``write_file`` accepts."""
MAX_LISTED = 200


class ToolError(Exception):
    """A tool refused or failed; the message is what the agent is told."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What a tool call produced: text for the model, and a small record for the step."""

    text: str
    ok: bool = True
    detail: dict[str, Any] = field(default_factory=dict)


def utf8_safe(text: str) -> str:
    """``text`` with lone surrogates (which JSON escapes can carry) replaced, so that it can be
    stored as UTF-8."""
    return text.encode("utf-8", errors="replace").decode("utf-8")


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters: its start and its end (where errors and
    results usually are), with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 4
    cut = len(text) - head - tail
    return f"{text[:head]}\n[… {cut} characters cut …]\n{text[len(text) - tail :]}"


def inside(workspace: Path, path: str) -> Path:
    """``path`` (relative, in the workspace) resolved through any symlinks; refused if it is
    absolute or leads anywhere outside the workspace."""
    if not path or "\0" in path:
        raise ToolError("a path must be a non-empty string without NUL characters")
    if PurePosixPath(path).is_absolute():
        raise ToolError(f"{path!r} is absolute: give a path relative to your workspace")
    root = workspace.resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ToolError(f"{path!r} leads outside your workspace; only files in it can be used")
    return target


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() or "."


@dataclass
class Toolbox:
    """The tools of one agent attempt."""

    workspace: Path
    inputs: dict[str, str]
    """Results of the task's dependencies, by task id."""
    sandbox: Sandbox
    limits: Limits
    extra: dict[str, ToolDef] = field(default_factory=dict)
    """The MCP and fetch tools the task lists, by name: the only ones beyond the built-ins."""
    run_tools: RunTools | None = None
    fetcher: Fetcher | None = None

    async def discover(self, globs: list[str]) -> None:
        """Take the MCP and fetch tools the task's ``tools`` globs allow (MCP tool lists come
        from the run's pooled sessions, fetched once per TTL for all agents)."""
        if not globs or self.run_tools is None:
            return
        from workers.fetch_tool import FETCH_ARGS, FETCH_DESCRIPTION, Fetcher

        found: list[ToolDef] = []
        if matches(FETCH, globs):
            found.append(ToolDef(FETCH, None, FETCH, FETCH_DESCRIPTION, FETCH_ARGS))
            self.fetcher = Fetcher(self.run_tools.fetch)
        found.extend(await self.run_tools.mcp_tools(globs))
        self.extra = {t.name: t for t in found}

    async def timed_call(self, action: Action) -> tuple[Observation, float, float]:
        """One call as the model sees it: its observation, when it started (epoch seconds) and
        how long it took; a tool that fails says why in its observation instead of raising."""
        started, clock = time.time(), time.perf_counter()
        try:
            observation = await self.call(action)
        except ToolError as exc:
            observation = Observation(f"error: {exc}", ok=False)
        except ToolCallError as exc:  # an MCP or fetch call: refused, timed out, server down
            again = "it may work if made again" if exc.retryable else "do not make it again"
            observation = Observation(
                f"error: {exc.message} ({again})",
                ok=False,
                detail={"error": exc.message, "retryable": exc.retryable},
            )
        except (OSError, ValueError) as exc:  # ValueError: e.g. a path that cannot be encoded
            observation = Observation(f"error: the {action.tool} tool failed: {exc}", ok=False)
        return observation, started, time.perf_counter() - clock

    async def call(self, action: Action) -> Observation:
        """Run one (non-``finish``) action; a :class:`ToolError` is the caller's to report."""
        args = action.args
        if action.tool in self.extra:
            return await self.external(self.extra[action.tool], args)
        if action.tool not in TOOL_ARGS:
            raise ToolError(f"no tool {action.tool!r} is available to this task")
        if action.tool == "python":
            return await self.python(args["code"])
        if action.tool == "read_result":
            return self.read_result(args["task_id"])
        if action.tool == "read_file":
            return self.read_file(args["path"])
        if action.tool == "write_file":
            return self.write_file(args["path"], args["content"])
        if action.tool == "list_files":
            return self.list_files(args.get("path", "."))
        raise ToolError(f"no tool {action.tool!r}")

    async def external(self, tool: ToolDef, args: dict[str, Any]) -> Observation:
        """An MCP tool through the run's pooled server session, or ``fetch``."""
        if tool.server is None:
            assert self.fetcher is not None
            page = await self.fetcher.fetch(str(args["url"]))
            detail = {"url": page.url, "status": page.status, "bytes": len(page.text)}
            return Observation(page.observation(), ok=page.status < 400, detail=detail)
        assert self.run_tools is not None
        outcome = await self.run_tools.call(tool, args)
        return Observation(outcome.text, ok=outcome.ok)

    async def python(self, code: str) -> Observation:
        result = await self.sandbox.run(code, workspace=self.workspace, limits=self.limits)
        failure = result.failure()
        parts = [f"status: {failure or 'exit code 0'}"]
        if result.stdout:
            parts.append(f"stdout:\n{result.stdout}")
        if result.stderr:
            parts.append(f"stderr:\n{result.stderr}")
        return Observation("\n".join(parts), ok=failure is None, detail=result.summary())

    def read_result(self, task_id: str) -> Observation:
        if task_id not in self.inputs:
            known = ", ".join(sorted(self.inputs)) or "none (this task has no dependencies)"
            raise ToolError(f"no result for {task_id!r}; the results you can read: {known}")
        return Observation(self.inputs[task_id])

    def read_file(self, path: str) -> Observation:
        target = inside(self.workspace, path)
        if target.is_dir():
            raise ToolError(f"{path!r} is a directory; list_files shows what is in it")
        fd = self._open(target, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        text = data[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
        if len(data) > MAX_FILE_BYTES:
            text += f"\n[… file longer than {MAX_FILE_BYTES} bytes; the rest was not read]"
        return Observation(text)

    def write_file(self, path: str, content: str) -> Observation:
        data = content.encode("utf-8")
        if len(data) > MAX_FILE_BYTES:
            raise ToolError(f"{len(data)} bytes is more than the {MAX_FILE_BYTES} byte limit")
        target = inside(self.workspace, path)
        if target == self.workspace.resolve():
            raise ToolError("give a file name, not the workspace itself")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        rel = _relative(self.workspace.resolve(), target)
        return Observation(f"wrote {len(data)} bytes to {rel}")

    def list_files(self, path: str = ".") -> Observation:
        root = self.workspace.resolve()
        start = inside(self.workspace, path)
        if not start.is_dir():
            raise ToolError(f"{path!r} is not a directory in your workspace")
        lines: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):  # never follows symlinked dirs
            dirnames.sort()
            for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
                entry = Path(dirpath, name)
                size = entry.lstat().st_size
                kind = " -> (link)" if entry.is_symlink() else ""
                lines.append(f"{_relative(root, entry)}  {size} bytes{kind}")
                if len(lines) >= MAX_LISTED:
                    lines.append(f"[… listing stopped at {MAX_LISTED} entries]")
                    return Observation("\n".join(lines))
        return Observation("\n".join(lines) or "(no files)")

    def _open(self, target: Path, flags: int) -> int:
        """Open without following a symlink at the last step (the path was checked already)."""
        try:
            return os.open(target, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except IsADirectoryError:
            rel = _relative(self.workspace.resolve(), target)
            raise ToolError(f"{rel} is a directory") from None
        except FileNotFoundError:
            rel = _relative(self.workspace.resolve(), target)
            raise ToolError(f"no file {rel} in your workspace (list_files shows them)") from None
        except OSError as exc:
            raise ToolError(f"cannot open {target.name}: {exc.strerror or exc}") from None

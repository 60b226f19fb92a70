"""Tool names: a tool an agent may call (``server.tool`` or ``fetch``), and the task globs that
allow it. Imports nothing of the MCP SDK, so plans and agents without MCP servers need none."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NATIVE_NAME = re.compile(r"[^A-Za-z0-9_-]")
FETCH = "fetch"
"""The name of the built-in web fetch tool, which task globs match like an MCP tool's."""


@dataclass(frozen=True, slots=True)
class ToolDef:
    """One tool an agent may call: its full name (``server.tool``, or ``fetch``), where it
    lives (``server`` is None for ``fetch``), what it says it does, its arguments' schema."""

    name: str
    server: str | None
    tool: str
    description: str
    schema: dict[str, Any]

    @property
    def native_name(self) -> str:
        return native_name(self.name)


def native_name(tool: str) -> str:
    """A tool's function name in a native (OpenAI-style) ``tools`` list, which allows no dots:
    ``kb.search`` is ``kb__search``."""
    return NATIVE_NAME.sub("_", tool.replace(".", "__"))[:64]


def matches(name: str, globs: Iterable[str]) -> bool:
    """Does a task's ``tools`` list allow ``name``? Globs are case-sensitive shell patterns."""
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def glob_server(glob: str) -> str:
    """The server part of a ``server.tool`` glob (the whole glob for ``fetch``)."""
    return glob.split(".", 1)[0]

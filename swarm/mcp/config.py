"""How a plan's MCP server is reached: the child process's allow-listed environment, the HTTP
headers read from named variables, and the secret values that must never be stored or shown.

A plan names variables, never values; the values are read here, from this process's
environment, when the server is first used, and every one of them is handed to the
:class:`Redactor` that scrubs what a server answers before it is recorded or shown to a model.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

from swarm.errors import ConfigError
from swarm.plan import HttpServer, StdioServer
from workers.sandbox_host import SAFE_ENV  # a stdio server's base environment: the sandbox's

# The environment of a stdio server is the sandbox's allow-list (never a copy of ours), plus the
# variables the plan's ``env`` names.
REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4
"""Shorter values are not scrubbed from text (they would match everywhere)."""


@dataclass(frozen=True, slots=True)
class StdioLaunch:
    """What starts a stdio server: its command line and its whole environment."""

    command: str
    args: tuple[str, ...]
    env: dict[str, str]
    cwd: str | None


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """Where an HTTP server is: the plan's URL, exactly, and its headers."""

    url: str
    headers: dict[str, str]


def _lookup(server: str, name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name)
    if value is None:
        raise ConfigError(
            f"MCP server {server!r} needs the environment variable {name}, which is not set",
            hint=f"export {name} before the run, or remove it from the plan's mcp_servers.{server}",
        )
    return value


def stdio_launch(name: str, server: StdioServer, environ: Mapping[str, str]) -> StdioLaunch:
    """The command line and environment; ``python`` (or ``python3``) means the interpreter
    swarm runs on, so a server written with the SDK installed beside swarm finds it."""
    env = dict(SAFE_ENV)
    for var in server.env:
        env[var] = _lookup(name, var, environ)
    command = sys.executable if server.command in ("python", "python3") else server.command
    return StdioLaunch(command, tuple(server.args), env, server.cwd)


def http_target(name: str, server: HttpServer, environ: Mapping[str, str]) -> HttpTarget:
    headers = {header: _lookup(name, var, environ) for header, var in server.headers.items()}
    return HttpTarget(server.url, headers)


def secret_values(server: StdioServer | HttpServer, environ: Mapping[str, str]) -> list[str]:
    """The values a server is given from the environment: never to be stored or shown."""
    names = server.env if isinstance(server, StdioServer) else list(server.headers.values())
    return [environ[n] for n in names if len(environ.get(n, "")) >= MIN_SECRET_CHARS]


class Redactor:
    """Replaces every known secret value in text with ``[redacted]``; a server that echoes its
    token back (or an error message that quotes a header) does not leak it."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._secrets: list[str] = []
        for value in secrets or []:
            self.add(value)

    def add(self, value: str) -> None:
        if len(value) >= MIN_SECRET_CHARS and value not in self._secrets:
            self._secrets.append(value)
            self._secrets.sort(key=len, reverse=True)  # a secret inside another goes last

    def __call__(self, text: str) -> str:
        for value in self._secrets:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

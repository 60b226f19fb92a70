"""Choose and build the model provider a run uses."""

from __future__ import annotations

import os

from swarm.errors import ConfigError
from swarm.providers.base import Provider
from swarm.providers.sim import SimProvider

PROVIDERS = ("sim",)


def default_provider_name(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    return env.get("SWARM_PROVIDER", "sim")


def make_provider(name: str, env: dict[str, str] | None = None) -> Provider:
    if name == "sim":
        return SimProvider.from_env(env)
    raise ConfigError(
        f"unknown provider {name!r}",
        hint=f"choose one of: {', '.join(PROVIDERS)}",
    )

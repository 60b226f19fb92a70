"""Choose and build the model provider a run uses.

The default is ``replicate`` when ``REPLICATE_API_TOKEN`` is set, else ``sim``; ``SWARM_PROVIDER``
overrides both. Secrets are read here from the environment and handed to the provider only: they
are never part of a run's stored settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from swarm.errors import ConfigError
from swarm.providers.base import Provider
from swarm.providers.names import PROVIDERS as PROVIDERS
from swarm.providers.sim import SimProvider


def default_provider_name(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    chosen = env.get("SWARM_PROVIDER")
    if chosen:
        return chosen
    return "replicate" if env.get("REPLICATE_API_TOKEN", "").strip() else "sim"


def make_provider(
    name: str,
    env: Mapping[str, str] | None = None,
    *,
    base_url: str | None = None,
    rate_limit: int | None = None,
) -> Provider:
    """The provider called ``name``; ``base_url`` and ``rate_limit`` (creations per minute)
    apply to the remote providers."""
    if rate_limit is not None and rate_limit < 1:
        raise ConfigError(f"--rate-limit {rate_limit}: must be at least 1 per minute")
    if name == "sim":
        if base_url:
            raise ConfigError(
                "--base-url does not apply to the sim provider",
                hint="use --provider replicate or --provider openai with --base-url",
            )
        return SimProvider.from_env(None if env is None else dict(env))
    if name == "replicate":
        # Imported here: the replicate client (and numpy, which it loads) cost start-up time
        # that runs on the sim, `swarm validate` and the other commands should not pay.
        from swarm.providers.replicate import ReplicateProvider

        return ReplicateProvider.from_env(env, base_url=base_url, rate_limit=rate_limit)
    if name == "openai":
        from swarm.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider.from_env(env, base_url=base_url, rate_limit=rate_limit)
    raise ConfigError(
        f"unknown provider {name!r}",
        hint=f"choose one of: {', '.join(PROVIDERS)}",
    )

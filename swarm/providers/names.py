"""The names of the model providers, in a module that imports none of them: the CLI's help
lists them (`--provider`), and help must not pay for the providers' SDKs."""

from __future__ import annotations

PROVIDERS = ("sim", "replicate", "openai")
"""The providers :func:`swarm.providers.factory.make_provider` makes, by name."""

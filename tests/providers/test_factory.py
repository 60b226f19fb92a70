"""Choosing and building providers: defaults, required secrets, and what is never stored."""

from __future__ import annotations

import pytest

from swarm.errors import ConfigError
from swarm.providers.factory import default_provider_name, make_provider
from swarm.providers.openai_compat import OpenAICompatProvider
from swarm.providers.replicate import ReplicateProvider
from swarm.providers.replicate_io import DEFAULT_BASE_URL
from swarm.providers.sim import SimProvider
from swarm.runtime.run import RunOptions

TOKEN = "r8_factory_test_token"


def test_replicate_is_the_default_when_a_token_is_set() -> None:
    assert default_provider_name({"REPLICATE_API_TOKEN": TOKEN}) == "replicate"
    assert default_provider_name({}) == "sim"
    assert default_provider_name({"REPLICATE_API_TOKEN": "  "}) == "sim"
    assert default_provider_name({"REPLICATE_API_TOKEN": TOKEN, "SWARM_PROVIDER": "sim"}) == "sim"


def test_replicate_reads_its_token_and_address_from_the_environment() -> None:
    env = {"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": "http://127.0.0.1:9/v1"}
    provider = make_provider("replicate", env, rate_limit=120)
    assert isinstance(provider, ReplicateProvider)
    assert provider.base_url == "http://127.0.0.1:9" and provider.governor.limit == 120
    assert TOKEN not in repr(provider) and TOKEN not in str(vars(provider).get("base_url"))
    flagged = make_provider("replicate", env, base_url="http://10.0.0.1:8")
    assert isinstance(flagged, ReplicateProvider) and flagged.base_url == "http://10.0.0.1:8"
    plain = make_provider("replicate", {"REPLICATE_API_TOKEN": TOKEN})
    assert isinstance(plain, ReplicateProvider) and plain.base_url == DEFAULT_BASE_URL
    assert plain.governor.limit == 600


def test_a_missing_token_says_how_to_get_one() -> None:
    with pytest.raises(ConfigError, match="REPLICATE_API_TOKEN") as caught:
        make_provider("replicate", {})
    assert "replicate.com/account/api-tokens" in str(caught.value)


def test_openai_needs_an_address_and_a_key() -> None:
    with pytest.raises(ConfigError, match="--base-url"):
        make_provider("openai", {"OPENAI_API_KEY": "k"})
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_provider("openai", {}, base_url="http://localhost:8000/v1")
    provider = make_provider("openai", {"OPENAI_API_KEY": "k"}, base_url="http://h:1/v1/")
    assert isinstance(provider, OpenAICompatProvider) and provider.base_url == "http://h:1/v1"
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "https://api.moonshot.ai/v1"}
    from_env = make_provider("openai", env)
    assert isinstance(from_env, OpenAICompatProvider)
    assert from_env.base_url == "https://api.moonshot.ai/v1"


def test_flags_that_do_not_apply_are_refused() -> None:
    assert isinstance(make_provider("sim", {}), SimProvider)
    with pytest.raises(ConfigError, match="--base-url does not apply"):
        make_provider("sim", {}, base_url="http://x")
    with pytest.raises(ConfigError, match="at least 1"):
        make_provider("replicate", {"REPLICATE_API_TOKEN": TOKEN}, rate_limit=0)
    with pytest.raises(ConfigError, match="unknown provider 'gpt'"):
        make_provider("gpt", {})


def test_run_options_keep_the_provider_settings_resume_needs_and_no_secret() -> None:
    options = RunOptions(
        provider="replicate", model="acme/m", base_url="http://127.0.0.1:9", rate_limit=300
    )
    config = options.to_config()
    assert RunOptions.from_config(config) == options
    assert not any("token" in key or "key" in key for key in config)
    assert RunOptions.from_config({}).rate_limit is None

"""Fixtures for the provider tests: a fake Replicate server and a provider pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import pytest

from swarm.core.retry import RetryPolicy
from swarm.providers.replicate import ReplicateProvider
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate
from tests.cli.conftest import cli  # noqa: F401  (the in-process CLI, for end-to-end tests)

FAST_RETRIES = RetryPolicy(base_s=0.01, cap_s=0.05)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate() as server:
        yield server


def fast_provider(fake: FakeReplicate, **overrides: object) -> ReplicateProvider:
    """A provider with short waits: test time goes to the behaviour, not to backoff."""
    settings: dict[str, object] = {
        "base_url": fake.base_url,
        "rate_limit": 60_000,
        "create_policy": FAST_RETRIES,
        "poll_interval_s": 0.01,
        "cancel_timeout_s": 2.0,
        "seed": 1,
    }
    settings.update(overrides)
    return ReplicateProvider(FAKE_TOKEN, **settings)  # type: ignore[arg-type]


@pytest.fixture
async def provider(fake: FakeReplicate) -> AsyncIterator[ReplicateProvider]:
    made = fast_provider(fake)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
def replicate_env(fake: FakeReplicate, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReplicate]:
    """The environment of a `swarm` command pointed at the fake server (for the in-process CLI)."""
    for name in ("SWARM_PROVIDER", "SWARM_DB", "REPLICATE_POLL_INTERVAL", "SWARM_PRICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REPLICATE_API_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("REPLICATE_BASE_URL", fake.base_url)
    yield fake


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for something the fake server's threads will make true (there is no event to await
    across threads)."""
    with anyio.fail_after(timeout_s):
        while not check():  # noqa: ASYNC110
            await anyio.sleep(0.005)

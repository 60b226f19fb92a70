"""F5 through the real client: Replicate down for minutes is waited out, with capped and jittered
backoff, whether the call was creating its prediction, re-attaching to one, or reading one.

Time runs 25 times faster here (a :class:`ScaledClock` shared by the provider and the fake),
so three minutes of outage take 7.2 s. Waits measured on that clock carry the wall's timer
noise times 25; ``NOISE_S`` allows for it (at 100 times, a loaded machine's tenth of a second
looked like ten seconds and broke the bounds).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
from replicate.client import Client

from swarm.errors import ProviderError
from swarm.providers.base import ModelRequest
from swarm.providers.replicate import ReplicateProvider
from swarm.providers.retry import CREATION_POLICY
from swarm.testing.clock import ScaledClock
from swarm.testing.fake_predictions import Script
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate, Fault
from swarm.testing.journal import MemoryJournal

pytestmark = pytest.mark.anyio
K26 = "moonshotai/kimi-k2.6"
SPEED = 25.0
NOISE_S = 5.0
"""200 ms of wall-clock lateness under load, as seen at 25 times the speed."""


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(SPEED)


@pytest.fixture
def fast_fake(clock: ScaledClock) -> Iterator[FakeReplicate]:
    with FakeReplicate(clock=clock.now) as server:
        yield server


def provider_on(fake: FakeReplicate, clock: ScaledClock, **options: object) -> ReplicateProvider:
    """The production retry settings (backoff 0.5 s doubling to 30 s, five minutes of patience)
    on the shared clock; only the rate limit is lifted out of the way."""
    settings: dict[str, object] = {"base_url": fake.base_url, "rate_limit": 60_000, "seed": 3}
    settings.update(options)
    return ReplicateProvider(FAKE_TOKEN, clock=clock, **settings)  # type: ignore[arg-type]


def ask(prompt: str, attempt: int = 1, journal: MemoryJournal | None = None) -> ModelRequest:
    return ModelRequest(model=K26, prompt=prompt, call_key=f"run/t/{attempt}/1", journal=journal)


async def test_creations_wait_out_three_minutes_down_with_capped_jittered_backoff(
    fast_fake: FakeReplicate, clock: ScaledClock
) -> None:
    fast_fake.script = lambda inputs: Script(["back"])
    down_at = clock.now()
    fast_fake.down(180.0)  # 503 to everything for three minutes from now
    provider = provider_on(fast_fake, clock)
    try:
        response = await provider.complete(ask("are you there?"))
    finally:
        await provider.aclose()
    assert response.text == "back"
    tries = fast_fake.creation_attempts()
    assert [h.status for h in tries[:-1]] == [503] * (len(tries) - 1) and tries[-1].status == 201
    # The outage began before the first try (the client takes a moment to send it): the
    # success comes once it is over, measured from when it began.
    assert tries[-1].t >= down_at + 180.0
    assert tries[-1].t - tries[0].t < 180.0 + CREATION_POLICY.cap_s + NOISE_S
    gaps = [b.t - a.t for a, b in itertools.pairwise(tries)]
    for n, gap in enumerate(gaps, start=1):
        ceiling = min(CREATION_POLICY.cap_s, CREATION_POLICY.base_s * 2 ** (n - 1))
        assert gap <= ceiling + NOISE_S, f"retry {n} came {gap:.1f}s after the one before"
    assert max(gaps) > 8.0  # the waits grew beyond the first ones
    capped = gaps[6:]  # from the 7th retry on, each wait is drawn from [0, 30 s]
    assert max(capped) - min(capped) > CREATION_POLICY.cap_s / 4  # jittered, not in lockstep


async def test_an_outage_longer_than_the_patience_fails_the_call_retryably_saying_so(
    fast_fake: FakeReplicate, clock: ScaledClock
) -> None:
    fast_fake.down(600.0, Fault(drop=True))
    provider = provider_on(fast_fake, clock, max_outage_s=120.0)
    try:
        with pytest.raises(ProviderError, match="cannot reach Replicate") as caught:
            await provider.complete(ask("anyone?"))
    finally:
        await provider.aclose()
    assert caught.value.retryable and "still failing after" in caught.value.message
    assert caught.value.hint is not None and "SWARM_MAX_OUTAGE_S" in caught.value.hint
    tries = fast_fake.creation_attempts()
    assert 120.0 - NOISE_S <= tries[-1].t - tries[0].t < 120.0 + CREATION_POLICY.cap_s + NOISE_S


async def test_a_prediction_read_during_an_outage_is_followed_to_its_end(
    fast_fake: FakeReplicate, clock: ScaledClock
) -> None:
    # Five tokens 20 s apart: the outage begins once the prediction exists and outlasts it, so
    # every read of its stream and state fails (connection dropped) for two minutes.
    fast_fake.script = lambda inputs: Script([f"{n} " for n in range(5)], token_delay_s=20.0)
    fast_fake.down(120.0, Fault(drop=True), after_creations=1)
    provider = provider_on(fast_fake, clock)
    journal = MemoryJournal()
    try:
        response = await provider.complete(ask("long answer", journal=journal))
    finally:
        await provider.aclose()
    assert response.text == "0 1 2 3 4 " and response.meta["create_tries"] == 1
    reads = [h for h in fast_fake.hits if h.method == "GET"]
    assert any(h.status == 0 for h in reads) and reads[-1].status == 200
    assert len(fast_fake.creations) == 1 and journal.ended == {response.ref: "succeeded"}


async def test_a_resumed_attempt_re_attaches_once_the_provider_is_back(
    fast_fake: FakeReplicate, clock: ScaledClock
) -> None:
    fast_fake.script = lambda inputs: Script(["kept"], token_delay_s=200.0)
    journal = MemoryJournal()
    transport = httpx.AsyncHTTPTransport()
    earlier = Client(api_token=FAKE_TOKEN, base_url=fast_fake.base_url, transport=transport)
    try:  # attempt 1 created a prediction, journaled it, and died
        made = await earlier.models.predictions.async_create(
            model=K26, input={"prompt": "resume me", "max_tokens": 2048}, stream=True
        )
        await journal.created(ask("resume me", 1, journal), made.id)
    finally:
        await transport.aclose()
    fast_fake.down(150.0, Fault(502))
    provider = provider_on(fast_fake, clock)
    try:
        response = await provider.complete(ask("resume me", 2, journal))
    finally:
        await provider.aclose()
    assert response.ref == made.id and response.meta["reattached"] and response.text == "kept"
    assert len(fast_fake.creations) == 1  # nothing paid for twice
    failed_reads = [h for h in fast_fake.hits if h.method == "GET" and h.status == 502]
    assert len(failed_reads) > 1

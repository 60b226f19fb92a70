"""Write-ahead re-attachment: a resumed attempt follows the prediction an interrupted one created
instead of paying for a new one — unless that prediction is of no use any more."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from replicate.client import Client

from swarm.providers.base import ModelRequest
from swarm.providers.replicate import ReplicateProvider
from swarm.testing.fake_predictions import Script
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate
from swarm.testing.journal import MemoryJournal
from tests.providers.conftest import eventually, fast_provider

pytestmark = pytest.mark.anyio
K26 = "moonshotai/kimi-k2.6"
LIVE = ("starting", "processing")


def attempt(n: int, journal: MemoryJournal, prompt: str = "resume me") -> ModelRequest:
    return ModelRequest(model=K26, prompt=prompt, call_key=f"run/task/{n}/1", journal=journal)


@pytest.fixture
async def earlier(fake: FakeReplicate) -> AsyncIterator[Client]:
    """The client of the process that died: it created a prediction and was killed."""
    transport = httpx.AsyncHTTPTransport()
    client = Client(api_token=FAKE_TOKEN, base_url=fake.base_url, transport=transport)
    try:
        yield client
    finally:
        await transport.aclose()


async def crashed_after_creating(
    earlier: Client, journal: MemoryJournal, prompt: str = "resume me"
) -> str:
    """What attempt 1 left behind: a prediction, journaled, never read, never cancelled."""
    prediction = await earlier.models.predictions.async_create(
        model=K26, input={"prompt": prompt, "max_tokens": 2048}, stream=True
    )
    await journal.created(attempt(1, journal, prompt), prediction.id)
    return str(prediction.id)


async def test_a_running_prediction_is_followed_not_created_again(
    fake: FakeReplicate, earlier: Client, provider: ReplicateProvider
) -> None:
    fake.script = lambda inputs: Script(["still", " going"], token_delay_s=0.3)
    journal = MemoryJournal()
    ref = await crashed_after_creating(earlier, journal)
    response = await provider.complete(attempt(2, journal))
    assert response.ref == ref and response.text == "still going"
    assert response.meta["reattached"] and response.meta["create_tries"] == 0
    assert len(fake.creation_attempts()) == 1
    assert journal.ended == {ref: "succeeded"}


async def test_a_prediction_that_finished_meanwhile_is_taken_as_it_is(
    fake: FakeReplicate, earlier: Client, provider: ReplicateProvider
) -> None:
    journal = MemoryJournal()
    ref = await crashed_after_creating(earlier, journal)
    await eventually(lambda: fake.predictions[ref].state(fake.now())[0] == "succeeded")
    response = await provider.complete(attempt(2, journal))
    assert response.ref == ref and response.text == "[fake kimi] answer to: resume me"
    assert response.tokens_out == len(fake.predictions[ref].script.tokens)
    assert len(fake.creation_attempts()) == 1
    assert not any(h.path.startswith("/v1/streams/") for h in fake.hits)


@pytest.mark.parametrize("marker", ["[fail]", "[abort]", "[cancel]"])
async def test_a_prediction_that_did_not_succeed_is_replaced(
    fake: FakeReplicate, earlier: Client, marker: str
) -> None:
    journal = MemoryJournal()
    ref = await crashed_after_creating(earlier, journal, prompt=f"try {marker}")
    await eventually(lambda: fake.predictions[ref].state(fake.now())[0] not in LIVE)
    fake.script = lambda inputs: Script(["fresh"])
    provider = fast_provider(fake)
    try:
        response = await provider.complete(attempt(2, journal, prompt=f"try {marker}"))
    finally:
        await provider.aclose()
    assert response.ref != ref and response.text == "fresh"
    assert len(fake.creation_attempts()) == 2
    assert journal.refs == {"run/task/1": response.ref}


async def test_an_id_replicate_does_not_know_is_replaced(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    journal = MemoryJournal()
    await journal.created(attempt(1, journal), "gone0000000000000000000000")
    response = await provider.complete(attempt(2, journal))
    assert response.ref != "gone0000000000000000000000"
    assert len(fake.creation_attempts()) == 1


async def test_a_success_whose_output_was_removed_is_replaced(
    fake: FakeReplicate, earlier: Client, provider: ReplicateProvider
) -> None:
    journal = MemoryJournal()
    ref = await crashed_after_creating(earlier, journal)
    await eventually(lambda: fake.predictions[ref].state(fake.now())[0] == "succeeded")
    fake.remove_data(ref)
    response = await provider.complete(attempt(2, journal))
    assert response.ref != ref and len(fake.creation_attempts()) == 2


async def test_without_a_journal_every_call_creates(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    for _ in range(2):
        await provider.complete(ModelRequest(model=K26, prompt="no journal"))
    assert len(fake.creation_attempts()) == 2

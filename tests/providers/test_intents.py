"""The window before a prediction id is journaled (issue 16, defect 8): the intent of each
creation is recorded first, and a resumed call finds the prediction its intent made in
Replicate's list (``GET /v1/predictions?created_after=…``) instead of creating it again."""

from __future__ import annotations

import time

import anyio
import pytest

from swarm.providers.base import CallIntent, ModelRequest
from swarm.providers.replicate import ReplicateProvider
from swarm.providers.replicate_io import fingerprint, listed_fingerprint, model_input
from swarm.testing.fake_predictions import Script
from swarm.testing.fake_replicate import LIST_PAGE, FakeReplicate
from swarm.testing.journal import MemoryJournal, call_slot
from tests.providers.conftest import fast_provider

pytestmark = pytest.mark.anyio
K26 = "moonshotai/kimi-k2.6"


def ask(
    prompt: str, journal: MemoryJournal | None, task: str = "t", attempt: int = 2
) -> ModelRequest:
    return ModelRequest(model=K26, prompt=prompt, call_key=f"r/{task}/{attempt}/1", journal=journal)


def left_by_a_killed_attempt(*requests: ModelRequest, at: float) -> MemoryJournal:
    """What a resume's journal holds after a kill between a creation and its journaling: the
    intents, no prediction ids."""
    journal = MemoryJournal()
    for request in requests:
        intent = CallIntent(fingerprint(K26, model_input(request, [])), at)
        journal.intents[call_slot(request)] = intent
    return journal


async def test_the_intent_is_recorded_before_the_creation_is_sent(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    seen: list[int] = []

    class Watching(MemoryJournal):
        async def intended(self, request: ModelRequest, intent: CallIntent) -> None:
            seen.append(len(fake.creation_attempts()))
            await super().intended(request, intent)

    journal = Watching()
    await provider.complete(ask("q", journal, attempt=1))
    assert seen == [0]
    (prediction,) = fake.predictions.values()
    listed = prediction.to_json(fake.base_url, fake.now())
    assert listed_fingerprint(listed) == journal.events[0][2]


async def test_a_creation_the_provider_answered_is_found_not_made_again(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    before = time.time()
    fake.script = lambda inputs: Script(["slow", " answer"], token_delay_s=0.3)
    first = await provider.complete(ask("q", None))  # the killed attempt's prediction
    fake.script = None
    other = await provider.complete(ask("something else", None))
    journal = left_by_a_killed_attempt(ask("q", None), at=before)
    resumed = fast_provider(fake)
    try:
        again = await resumed.complete(ask("q", journal))
    finally:
        await resumed.aclose()
    assert again.ref == first.ref != other.ref and again.text == "slow answer"
    assert again.meta["reattached"] is True and len(fake.creations) == 2
    assert [e[0] for e in journal.events] == ["created", "succeeded"]  # now journaled
    assert any(h.path == "/v1/predictions" and h.method == "GET" for h in fake.hits)


async def test_a_running_prediction_is_followed_to_its_end(fake: FakeReplicate) -> None:
    fake.script = lambda inputs: Script(["a", "b", "c", "d"], token_delay_s=0.2)
    before = time.time()
    orphan = fast_provider(fake)
    async with anyio.create_task_group() as tg:
        tg.start_soon(orphan.complete, ask("q", None))
        while not fake.creations:  # noqa: ASYNC110
            await anyio.sleep(0.01)
        await anyio.sleep(0.1)
        tg.cancel_scope.cancel()  # gave up on it (its cancel reaches the fake only later)
    (running,) = fake.predictions.values()
    running.canceled_at = None  # as if the process had died instead: nobody cancelled it
    running.cancelled.clear()
    journal = left_by_a_killed_attempt(ask("q", None), at=before)
    resumed = fast_provider(fake)
    try:
        again = await resumed.complete(ask("q", journal))
    finally:
        await resumed.aclose()
        await orphan.aclose()
    assert again.ref == running.id and again.text == "abcd" and len(fake.creations) == 1


async def test_one_prediction_is_adopted_once_and_a_miss_creates(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    before = time.time()
    made = await provider.complete(ask("same", None, task="a"))
    a, b, c = ask("same", None, task="a"), ask("same", None, task="b"), ask("never sent", None)
    journal = left_by_a_killed_attempt(a, b, c, at=before)
    resumed = fast_provider(fake)
    try:
        got = [await resumed.complete(ask(r.prompt, journal, task=r.call_key.split("/")[1]))
               for r in (a, b, c)]  # fmt: skip
    finally:
        await resumed.aclose()
    assert got[0].ref == made.ref
    assert got[1].ref != made.ref and got[2].ref != made.ref  # created: nothing to adopt
    assert len(fake.creations) == 3


async def test_the_list_is_read_once_across_pages_and_predictions_before_it_are_ignored(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    old = await provider.complete(ask("q", None))  # an earlier attempt, before the window
    for prediction in fake.predictions.values():
        prediction.created_epoch -= 600
    before = time.time()
    async with anyio.create_task_group() as tg:
        for i in range(LIST_PAGE + 20):
            tg.start_soon(provider.complete, ask(f"p{i}", None, task=f"t{i}"))
    requests = [ask(f"p{i}", None, task=f"t{i}") for i in range(LIST_PAGE + 20)]
    requests.append(ask("q", None))
    journal = left_by_a_killed_attempt(*requests, at=before)
    resumed = fast_provider(fake)
    try:
        async with anyio.create_task_group() as tg:
            for r in requests:
                task = r.call_key.split("/")[1]
                tg.start_soon(resumed.complete, ask(r.prompt, journal, task=task))
    finally:
        await resumed.aclose()
    assert len(fake.creations) == LIST_PAGE + 22  # only "q" is made again: its one was old
    assert old.ref in fake.predictions
    lists = [h for h in fake.hits if h.method == "GET" and h.path == "/v1/predictions"]
    assert len(lists) == 2  # two pages, read once for all the calls

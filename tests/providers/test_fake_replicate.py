"""The fake server's fidelity, checked with the bare ``replicate`` client (no swarm code between):
the client's own behaviours and gotchas must show up against it as they do against Replicate."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from pydantic.v1 import ValidationError
from replicate.client import Client
from replicate.exceptions import ReplicateError
from replicate.helpers import FileOutput

from swarm.testing.clock import ScaledClock
from swarm.testing.fake_predictions import URL_CHUNK, RandomFaults, Script, malformed
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate, Fault

pytestmark = pytest.mark.anyio
K26 = "moonshotai/kimi-k2.6"


@pytest.fixture
async def client(fake: FakeReplicate) -> AsyncIterator[Client]:
    transport = httpx.AsyncHTTPTransport()
    made = Client(api_token=FAKE_TOKEN, base_url=fake.base_url, transport=transport)
    made.poll_interval = 0.01
    try:
        yield made
    finally:
        await transport.aclose()


async def test_run_with_prefer_wait_returns_the_whole_output(client: Client) -> None:
    output = await client.async_run(K26, input={"prompt": "hi"}, use_file_output=False)
    assert "".join(output) == "[fake kimi] answer to: hi"


async def test_stream_yields_output_events_with_ids_then_done(client: Client) -> None:
    events = [e async for e in await client.async_stream(K26, input={"prompt": "hi"})]
    assert [e.event.value for e in events][-1] == "done"
    assert all(e.id for e in events)
    assert "".join(str(e) for e in events) == "[fake kimi] answer to: hi"


async def test_url_like_chunks_become_file_outputs(client: Client) -> None:
    events = [e async for e in await client.async_stream(K26, input={"prompt": "[url]"})]
    files = [e.data for e in events if isinstance(e.data, FileOutput)]
    assert [f.url for f in files] == [URL_CHUNK]


async def test_a_failed_prediction_raises_runtime_error_from_the_stream(client: Client) -> None:
    with pytest.raises(RuntimeError, match="CUDA error"):
        async for _ in await client.async_stream(K26, input={"prompt": "[fail]"}):
            pass


async def test_a_cancelled_stream_ends_quietly_with_a_reason(
    fake: FakeReplicate, client: Client
) -> None:
    fake.script = lambda inputs: Script(["a", "b", "c"], outcome="canceled", stop_after=1)
    events = [e async for e in await client.async_stream(K26, input={"prompt": "x"})]
    assert events[-1].event.value == "done" and '"canceled"' in events[-1].data


async def test_aborted_is_a_status_the_client_cannot_parse(
    fake: FakeReplicate, client: Client
) -> None:
    prediction = await client.models.predictions.async_create(K26, input={"prompt": "[abort]"})
    await anyio.sleep(0.1)
    with pytest.raises(ValidationError, match="given=aborted"):
        await client.predictions.async_get(prediction.id)


async def test_the_client_never_retries_a_429_on_create(
    fake: FakeReplicate, client: Client
) -> None:
    fake.fail_next(Fault(429, retry_after="1"))
    with pytest.raises(ReplicateError) as caught:
        await client.models.predictions.async_create(K26, input={"prompt": "x"})
    assert caught.value.status == 429 and len(fake.creation_attempts()) == 1


async def test_the_client_retries_a_429_on_get_by_itself(
    fake: FakeReplicate, client: Client
) -> None:
    prediction = await client.models.predictions.async_create(K26, input={"prompt": "x"})
    fake.down(0.05, Fault(429))  # GETs are retried by the client itself, after 0.1 s here
    fetched = await client.predictions.async_get(prediction.id)
    gets = [h.status for h in fake.hits if h.method == "GET"]
    assert fetched.id == prediction.id and gets[0] == 429 and gets[-1] == 200


async def test_errors_are_problem_details(fake: FakeReplicate) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        answer = await http.post(f"/v1/models/{K26}/predictions", json={"input": {}})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Unauthenticated"


async def test_creations_are_counted_per_window(fake: FakeReplicate, client: Client) -> None:
    for _ in range(3):
        await client.models.predictions.async_create(K26, input={"prompt": "x"})
    assert fake.max_creations_in(60.0) == 3 and len(fake.creations) == 3


async def test_a_storm_can_wait_for_creations_to_begin(fake: FakeReplicate, client: Client) -> None:
    fake.storm(1.0, 60.0, Fault(429, retry_after="1"), after_creations=2)
    for _ in range(2):
        await client.models.predictions.async_create(K26, input={"prompt": "x"})
    with pytest.raises(ReplicateError) as caught:
        await client.models.predictions.async_create(K26, input={"prompt": "x"})
    assert caught.value.status == 429
    assert [h.status for h in fake.creation_attempts()] == [201, 201, 429]


async def test_an_outage_can_wait_for_creations_to_begin(
    fake: FakeReplicate, client: Client
) -> None:
    fake.down(60.0, Fault(502), after_creations=1)
    made = await client.models.predictions.async_create(K26, input={"prompt": "x"})
    with pytest.raises(ReplicateError) as caught:  # every request now, reads included
        await client.predictions.async_get(made.id)
    assert caught.value.status == 502
    assert [h.status for h in fake.hits] == [201, 502]


async def test_random_faults_fail_hang_or_garble_predictions_at_their_rates(
    fake: FakeReplicate, client: Client
) -> None:
    fake.prediction_faults = faults = RandomFaults(failed=0.3, hang=0.2, malformed=0.3, seed=1)
    outcomes = []
    for _ in range(40):
        made = await client.models.predictions.async_create(K26, input={"prompt": "x"})
        outcomes.append(fake.predictions[made.id].script)
        await client.predictions.async_cancel(made.id)  # the hung ones would wait forever
    kinds = [s.outcome if s.tokens else "malformed" for s in outcomes]
    assert kinds.count("failed") == faults.drawn["failed"] > 5
    assert kinds.count("hang") == faults.drawn["hang"] > 3
    assert kinds.count("malformed") == faults.drawn["malformed"] > 5  # text answers: empty
    assert kinds.count("succeeded") == 40 - sum(faults.drawn.values()) > 3


def test_a_malformed_json_answer_is_cut_in_half_and_any_other_emptied() -> None:
    cut = malformed(['{"n": ', "7}"])
    assert cut == ['{"n"'] and not _is_json("".join(cut))
    assert malformed(["just", " text"]) == []


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_the_fake_keeps_the_time_of_the_clock_it_is_given() -> None:
    clock = ScaledClock(1000.0)
    headers = {"Authorization": f"Bearer {FAKE_TOKEN}"}
    with FakeReplicate(clock=clock.now) as fast, httpx.Client(base_url=fast.base_url) as http:
        fast.down(60.0)  # a minute on the fast clock: 60 ms on the wall's
        assert http.get("/v1/predictions/p1", headers=headers).status_code == 503
        time.sleep(0.1)
        assert http.get("/v1/predictions/p1", headers=headers).status_code == 404
        assert fast.hits[1].t - fast.hits[0].t >= 60.0

"""The Replicate provider through the real ``replicate`` client against the local fake server:
inputs, streaming, metrics, and every fault the fake can play."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest

from swarm.core.retry import RetryPolicy
from swarm.errors import ConfigError, ProviderError
from swarm.providers.base import ModelRequest
from swarm.providers.replicate import ReplicateProvider
from swarm.providers.replicate_errors import HttpFailure, error_hook
from swarm.providers.replicate_io import normalise_base_url
from swarm.testing.fake_predictions import URL_CHUNK, Script
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate, Fault
from swarm.testing.journal import MemoryJournal
from tests.providers.conftest import eventually, fast_provider

pytestmark = pytest.mark.anyio
K26 = "moonshotai/kimi-k2.6"


def ask(prompt: str, **fields: object) -> ModelRequest:
    return ModelRequest(model=K26, prompt=prompt, call_key="run/task/1/1", **fields)  # type: ignore[arg-type]


def creations(fake: FakeReplicate) -> int:
    return len(fake.creation_attempts())


async def test_a_call_streams_the_answer_and_records_the_predictions_metrics(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    response = await provider.complete(ask("Write a greeting."))
    assert response.text == "[fake kimi] answer to: Write a greeting."
    (prediction,) = fake.predictions.values()
    assert response.ref == prediction.id
    assert response.tokens_in == 5 and response.tokens_out == len(prediction.script.tokens)
    meta = response.meta
    assert meta["usage"] == "metrics" and meta["create_tries"] == 1 and not meta["reattached"]
    assert meta["predict_time"] > 0 and meta["time_to_first_token"] > 0
    assert meta["client_time_to_first_token"] is not None
    assert response.latency_s > 0
    assert FAKE_TOKEN not in repr(meta) and FAKE_TOKEN not in repr(provider)


async def test_every_k26_input_reaches_replicate_and_unset_ones_are_left_out(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    await provider.complete(ask("short"))
    await provider.complete(
        ask(
            "full",
            system_prompt="You are terse.",
            max_tokens=32_768,
            temperature=0.6,
            top_p=0.9,
            presence_penalty=-1.5,
            frequency_penalty=2.0,
            reasoning_effort="high",
        )
    )
    short, full = (p.inputs for p in fake.predictions.values())
    assert short == {"prompt": "short", "max_tokens": 2048}
    assert full == {
        "prompt": "full",
        "system_prompt": "You are terse.",
        "max_tokens": 32_768,
        "temperature": 0.6,
        "top_p": 0.9,
        "presence_penalty": -1.5,
        "frequency_penalty": 2.0,
        "reasoning_effort": "high",
    }


async def test_the_answer_is_capped_at_max_tokens(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    response = await provider.complete(ask("a long enough prompt to cut", max_tokens=3))
    assert response.tokens_out == 3 and response.text == "[fake kimi] answer"


async def test_local_images_are_sent_as_data_uris(
    fake: FakeReplicate, provider: ReplicateProvider, tmp_path: Path
) -> None:
    image = tmp_path / "chart.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x01" * 40)
    await provider.complete(ask("describe", images=(str(image), "https://example.com/b.jpg")))
    (prediction,) = fake.predictions.values()
    first, second = prediction.inputs["image_input"]
    assert first.startswith("data:image/png;base64,") and second == "https://example.com/b.jpg"


async def test_a_bad_image_fails_before_anything_is_created(
    fake: FakeReplicate, provider: ReplicateProvider, tmp_path: Path
) -> None:
    with pytest.raises(ProviderError, match="no such file") as caught:
        await provider.complete(ask("describe", images=(str(tmp_path / "gone.png"),)))
    assert not caught.value.retryable and creations(fake) == 0


async def test_url_like_chunks_that_the_client_turns_into_file_outputs_stay_text(
    provider: ReplicateProvider,
) -> None:
    response = await provider.complete(ask("show me [url]"))
    assert URL_CHUNK in response.text and response.text.startswith("[fake")


@pytest.mark.parametrize(
    ("marker", "words"),
    [
        ("[fail]", "failed on Replicate: CUDA error"),
        ("[cancel]", "was canceled on Replicate"),
        ("[abort]", "status 'aborted'"),
    ],
)
async def test_predictions_that_do_not_succeed_fail_the_call_retryably(
    provider: ReplicateProvider, marker: str, words: str
) -> None:
    with pytest.raises(ProviderError, match=words) as caught:
        await provider.complete(ask(f"go {marker}"))
    assert caught.value.retryable


async def test_a_dropped_stream_falls_back_to_the_predictions_output(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    response = await provider.complete(ask("keep going [drop]"))
    assert response.text == "[fake kimi] answer to: keep going [drop]"
    assert creations(fake) == 1


async def test_events_without_ids_are_dropped_by_the_client_yet_the_answer_is_whole(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    fake.event_ids = False
    response = await provider.complete(ask("no ids"))
    assert response.text == "[fake kimi] answer to: no ids"


async def test_a_slow_stream_is_followed_to_its_end(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    fake.script = lambda inputs: Script(["slow", " but", " sure"], token_delay_s=0.3)
    response = await provider.complete(ask("take your time"))
    assert response.text == "slow but sure" and response.latency_s >= 0.9


async def test_401_fails_at_once_and_says_the_token_is_rejected(fake: FakeReplicate) -> None:
    provider = ReplicateProvider("r8_wrong_token", base_url=fake.base_url)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.complete(ask("hello"))
    finally:
        await provider.aclose()
    error = caught.value
    assert error.status == 401 and not error.retryable and error.ends_run
    assert "rejected the API token" in str(error) and "REPLICATE_API_TOKEN" in str(error)
    assert "r8_wrong_token" not in str(error)
    assert creations(fake) == 1


async def test_404_names_the_unknown_model(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    request = ModelRequest(model="moonshotai/kimi-k9", prompt="hi")
    with pytest.raises(ProviderError, match="no model 'moonshotai/kimi-k9'") as caught:
        await provider.complete(request)
    assert caught.value.status == 404 and "--model" in str(caught.value)
    assert creations(fake) == 1


async def test_422_passes_on_what_replicate_says_is_wrong(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask("x", temperature=2.5))
    error = caught.value
    assert error.status == 422 and not error.retryable
    assert "input.temperature: must be between 0 and 2" in str(error)
    assert "defaults.params" in str(error)
    assert creations(fake) == 1


async def test_k26_limits_are_checked_before_paying_for_anything(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    with pytest.raises(ProviderError, match="1 to 32768"):
        await provider.complete(ask("x", max_tokens=40_000))
    with pytest.raises(ProviderError, match="reasoning_effort='extreme'"):
        await provider.complete(ask("x", reasoning_effort="extreme"))
    with pytest.raises(ProviderError, match="not a Replicate model reference"):
        await provider.complete(ModelRequest(model="kimi", prompt="x"))
    assert creations(fake) == 0


async def test_versioned_models_are_created_by_version(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    response = await provider.complete(ModelRequest(model="acme/llm:abc123", prompt="hi"))
    assert response.text.endswith("hi")
    assert fake.creation_attempts()[0].path == "/v1/predictions"


async def test_5xx_and_dropped_connections_on_create_are_retried(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    fake.fail_next(Fault(500), Fault(drop=True), Fault(503))
    response = await provider.complete(ask("eventually"))
    assert response.meta["create_tries"] == 4
    assert [h.status for h in fake.creation_attempts()] == [500, 0, 503, 201]


@pytest.mark.parametrize("status", [400, 402, 403])
async def test_other_client_errors_fail_at_once(
    fake: FakeReplicate, provider: ReplicateProvider, status: int
) -> None:
    fake.fail_next(Fault(status))
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask("refused"))
    assert caught.value.status == status and not caught.value.retryable
    assert caught.value.hint and creations(fake) == 1


async def test_a_provider_down_for_a_while_is_waited_for(fake: FakeReplicate) -> None:
    fake.down(seconds=0.6, fault=Fault(drop=True))
    provider = fast_provider(fake, create_policy=RetryPolicy(0.1, 0.3))
    try:
        response = await provider.complete(ask("are you back?"))
    finally:
        await provider.aclose()
    assert response.meta["create_tries"] > 1
    assert [h.status for h in fake.creation_attempts()][-1] == 201


async def test_a_provider_down_for_longer_than_the_retries_fails_retryably(
    fake: FakeReplicate,
) -> None:
    fake.down(seconds=30)
    provider = fast_provider(fake, max_create_tries=3, max_outage_s=0.0)  # no outage window
    try:
        with pytest.raises(ProviderError, match="still failing after 3 tries") as caught:
            await provider.complete(ask("anyone?"))
    finally:
        await provider.aclose()
    assert caught.value.retryable and caught.value.status == 503


async def test_an_unreachable_server_is_a_retryable_connection_error() -> None:
    with FakeReplicate() as gone:
        url = gone.base_url
    provider = ReplicateProvider(
        FAKE_TOKEN, base_url=url, max_create_tries=2, max_outage_s=0.0, seed=0
    )
    try:
        with pytest.raises(ProviderError, match="cannot reach Replicate") as caught:
            await provider.complete(ask("hello"))
    finally:
        await provider.aclose()
    assert caught.value.retryable


async def test_a_hung_stream_is_cancelled_on_replicate_when_the_task_times_out(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    journal = MemoryJournal()
    started = fake.now()
    with pytest.raises(TimeoutError):
        with anyio.fail_after(1.0):
            await provider.complete(ask("think forever [hang]", journal=journal))
    (ref,) = fake.predictions
    assert ref in fake.cancels and fake.cancels[ref] - started <= 1.0 + 1.0
    assert fake.predictions[ref].state(fake.now())[0] == "canceled"
    assert journal.ended == {ref: "canceled"}


async def test_a_stream_silent_past_the_read_timeout_is_cancelled_and_retryable(
    fake: FakeReplicate,
) -> None:
    provider = fast_provider(fake, read_timeout_s=0.3)
    try:
        with pytest.raises(ProviderError, match=r"no output for 0\.3s") as caught:
            await provider.complete(ask("stall [hang]"))
    finally:
        await provider.aclose()
    assert caught.value.retryable
    (ref,) = fake.predictions
    assert ref in fake.cancels


async def test_the_prediction_id_is_journaled_before_any_output_is_read(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    seen_before_journal: list[int] = []

    class Watching(MemoryJournal):
        async def created(self, request: ModelRequest, ref: str) -> None:
            seen_before_journal.append(
                sum(1 for h in fake.hits if h.path.startswith("/v1/streams/"))
            )
            await super().created(request, ref)

    journal = Watching()
    response = await provider.complete(ask("journal me", journal=journal))
    assert seen_before_journal == [0]
    assert [e[0] for e in journal.events] == ["intended", "created", "succeeded"]
    assert journal.refs == {"run/task/1": response.ref}


async def test_more_than_100_concurrent_streams_share_one_client_without_pool_timeouts(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    # Each prediction waits 3 s before its first token, so every stream is open at once however
    # slowly a loaded machine creates them.
    fake.script = lambda inputs: Script(["a", "b", "c", "d"], token_delay_s=0.05, start_delay_s=3.0)
    results: list[str] = []

    async def one(i: int) -> None:
        results.append((await provider.complete(ask(f"q{i}"))).text)

    async with anyio.create_task_group() as tg:
        for i in range(150):
            tg.start_soon(one, i)
    assert results == ["abcd"] * 150
    assert fake.peak_streams > 100


def test_one_provider_serves_several_event_loops(fake: FakeReplicate) -> None:
    provider = fast_provider(fake)

    async def once() -> str:
        try:
            return (await provider.complete(ask("again"))).text
        finally:
            await provider.aclose()  # each loop closes its own connections

    assert anyio.run(once) == anyio.run(once) == "[fake kimi] answer to: again"


async def test_cancelling_the_caller_cancels_the_prediction_within_a_second(
    fake: FakeReplicate, provider: ReplicateProvider
) -> None:
    fake.script = lambda inputs: Script(["x"] * 100, token_delay_s=0.1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(provider.complete, ask("long"))
        await eventually(lambda: bool(fake.predictions))
        await anyio.sleep(0.2)
        cancelled_at = time.monotonic()
        tg.cancel_scope.cancel()
    (ref,) = fake.predictions
    assert fake.cancels[ref] - cancelled_at < 1.0


async def test_error_answers_never_carry_the_token() -> None:
    secret = "r8_secret_value"

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"detail": f"bad header {secret}"}, request=request)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(echo), event_hooks={"response": [error_hook(secret)]}
    ) as client:
        with pytest.raises(HttpFailure) as caught:
            await client.post("http://replicate.test/v1/models/a/b/predictions")
    assert secret not in str(caught.value) and "[REPLICATE_API_TOKEN]" in caught.value.detail


def test_base_urls_ending_in_v1_are_not_doubled() -> None:
    assert normalise_base_url("http://127.0.0.1:9/v1/") == "http://127.0.0.1:9"
    assert normalise_base_url("https://api.replicate.com") == "https://api.replicate.com"


def test_a_provider_needs_a_token() -> None:
    with pytest.raises(ConfigError):
        ReplicateProvider("")

"""The OpenAI-compatible provider against the local fake chat server: streaming, usage, errors
that fail fast, retries, and streams that break."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from rich.console import Console

from swarm import Swarm
from swarm.cli.progress import Progress
from swarm.core.retry import RetryPolicy
from swarm.errors import ProviderError, RateLimited
from swarm.providers.base import ModelRequest
from swarm.providers.governor import Cooldown, RateGovernor
from swarm.providers.openai_compat import OpenAICompatProvider, chat_body, error_detail
from swarm.runtime.run import Hooks
from swarm.testing._http import Exchange, FakeHTTP, Hit
from swarm.testing.fake_openai import FAKE_KEY, FakeOpenAI
from swarm.testing.fake_replicate import Fault

pytestmark = pytest.mark.anyio
MODEL = "kimi-k2.6"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def make(server: FakeOpenAI, key: str = FAKE_KEY, **options: object) -> OpenAICompatProvider:
    settings: dict[str, object] = {
        "rate_limit": 60_000,
        "create_policy": RetryPolicy(0.01, 0.05),
        "seed": 0,
    }
    settings.update(options)
    return OpenAICompatProvider(key, server.base_url + "/v1", **settings)  # type: ignore[arg-type]


@pytest.fixture
async def provider(server: FakeOpenAI) -> AsyncIterator[OpenAICompatProvider]:
    made = make(server)
    try:
        yield made
    finally:
        await made.aclose()


def ask(prompt: str, **fields: object) -> ModelRequest:
    return ModelRequest(model=MODEL, prompt=prompt, **fields)  # type: ignore[arg-type]


async def test_a_streamed_answer_with_reported_usage(
    server: FakeOpenAI, provider: OpenAICompatProvider
) -> None:
    response = await provider.complete(ask("Say hello.", system_prompt="Be brief."))
    assert response.text == "[fake kimi] answer to: Say hello."
    assert response.tokens_out == 6 and response.tokens_in > 0
    assert response.meta["usage"] == "reported" and response.meta["finish_reason"] == "stop"
    assert response.ref is not None and response.ref.startswith("chatcmpl-")
    (body,) = server.requests
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_parameters_and_reasoning_are_passed_and_thinking_is_counted_apart(
    server: FakeOpenAI, provider: OpenAICompatProvider
) -> None:
    response = await provider.complete(
        ask("Think.", temperature=0.6, top_p=0.9, max_tokens=100, reasoning_effort="high")
    )
    (body,) = server.requests
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.6, 0.9, 100)
    assert body["reasoning_effort"] == "high"
    assert response.meta["reasoning_chars"] > 0 and "Let me think" not in response.text


async def test_max_tokens_cuts_the_answer_with_finish_reason_length(
    provider: OpenAICompatProvider,
) -> None:
    response = await provider.complete(ask("a prompt long enough to cut", max_tokens=2))
    assert response.text == "[fake kimi]" and response.meta["finish_reason"] == "length"


async def test_images_become_content_parts(
    server: FakeOpenAI, provider: OpenAICompatProvider, tmp_path: Path
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    await provider.complete(ask("What is this?", images=(str(image),)))
    content = server.requests[0]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_a_rejected_key_fails_at_once_without_showing_it(server: FakeOpenAI) -> None:
    provider = make(server, key="sk-wrong-key")
    try:
        with pytest.raises(ProviderError, match="rejected the API key") as caught:
            await provider.complete(ask("hi"))
    finally:
        await provider.aclose()
    assert caught.value.status == 401 and not caught.value.retryable
    assert "sk-wrong-key" not in str(caught.value) and "OPENAI_API_KEY" in str(caught.value)
    assert len(server.hits) == 1


async def test_an_unknown_model_names_the_fix(provider: OpenAICompatProvider) -> None:
    with pytest.raises(ProviderError, match="no model 'nope'") as caught:
        await provider.complete(ModelRequest(model="nope", prompt="hi"))
    assert caught.value.status == 404 and "--base-url" in str(caught.value)


async def test_429_and_5xx_are_retried_honouring_retry_after(
    server: FakeOpenAI, provider: OpenAICompatProvider
) -> None:
    server.fail_next(Fault(429, retry_after="1"), Fault(502), Fault(drop=True))
    response = await provider.complete(ask("persist"))
    assert response.meta["create_tries"] == 4
    first, second = server.hits[0], server.hits[1]
    assert second.t - first.t >= 1.0 - 0.005


async def test_a_429_that_never_ends_surfaces_as_rate_limited(server: FakeOpenAI) -> None:
    server.fail_next(*(Fault(429) for _ in range(3)))
    quick = RateGovernor(60_000, cooldown=Cooldown(base_s=0.01, cap_s=0.02))
    provider = make(server, max_create_tries=3, max_outage_s=0.0, governor=quick)
    try:
        with pytest.raises(RateLimited):
            await provider.complete(ask("again and again"))
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("marker", "words"),
    [("[error]", "failed mid-stream: engine crashed"), ("[truncate]", "ended before")],
)
async def test_streams_that_break_fail_retryably(
    provider: OpenAICompatProvider, marker: str, words: str
) -> None:
    with pytest.raises(ProviderError, match=words) as caught:
        await provider.complete(ask(f"go {marker}"))
    assert caught.value.retryable


async def test_a_hung_stream_is_left_when_the_task_times_out(
    provider: OpenAICompatProvider,
) -> None:
    with anyio.move_on_after(0.5) as scope:
        await provider.complete(ask("wait [hang]"))
    assert scope.cancelled_caught


async def test_a_stalled_stream_hits_the_read_timeout(server: FakeOpenAI) -> None:
    provider = make(server, read_timeout_s=0.3)
    try:
        with pytest.raises(ProviderError, match=r"no output for 0\.3s"):
            await provider.complete(ask("stall [hang]"))
    finally:
        await provider.aclose()


def test_body_leaves_unset_parameters_out() -> None:
    body = chat_body(ask("hi"), [])
    assert set(body) == {"model", "messages", "stream", "stream_options", "max_tokens"}


def test_error_details_are_read_from_openai_and_vllm_bodies() -> None:
    assert error_detail(b'{"error": {"message": "bad"}}') == "bad"
    assert error_detail(b'{"object": "error", "message": "worse"}') == "worse"
    assert error_detail(b"<html>502</html>") == "<html>502</html>"


# -- errors that end the run, and a server that cannot be reached ---------------------------

RUN_PLAN = {
    "goal": "many calls",
    "defaults": {"model": MODEL, "retries": 2},
    "budget": {"max_concurrency": 2},
    "tasks": [{"id": f"t{i}", "kind": "llm", "prompt": f"task {i}"} for i in range(12)],
}


class WebPage(FakeHTTP):
    """A website where the API should be: every request gets 200 and an HTML page."""

    def dispatch(self, exchange: Exchange) -> None:
        self.record(Hit(self.now(), exchange.command, exchange.path, 200))
        page = b"<!doctype html><title>Welcome</title>"
        exchange.send_response(200)
        exchange.send_header("Content-Type", "text/html; charset=utf-8")
        exchange.send_header("Content-Length", str(len(page)))
        exchange.end_headers()
        exchange.wfile.write(page)


async def test_a_rejected_key_ends_the_whole_run_at_once(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    provider = make(server, key="sk-wrong")
    async with Swarm(tmp_path / "s.db", provider=provider, artifacts_dir=tmp_path / "r") as sw:
        with pytest.raises(ProviderError, match="rejected the API key") as caught:
            await sw.execute(RUN_PLAN, run_id="k")
        results = await sw.results("k")
        (run,) = await sw.runs()
    await provider.aclose()
    assert caught.value.ends_run and "OPENAI_API_KEY" in str(caught.value)
    assert "resume" in str(caught.value) and "swarm resume" not in str(caught.value)
    assert "swarm resume k --db" in caught.value.cli_text()
    assert len(server.hits) <= 2  # the calls in flight, not one per task and retry
    assert run.status == "failed"
    assert sum(r.status == "succeeded" for r in results) == 0
    fixed = make(server)  # the right key: the run resumes and ends
    async with Swarm(tmp_path / "s.db", provider=fixed) as sw:
        assert (await sw.resume("k")).succeeded
    await fixed.aclose()


async def test_a_web_page_is_not_an_event_stream(tmp_path: Path) -> None:
    with WebPage() as page:
        provider = OpenAICompatProvider("k", page.base_url + "/v1", seed=0)
        with pytest.raises(ProviderError, match="not an event stream: is --base-url right") as one:
            await provider.complete(ask("hi"))
        async with Swarm(tmp_path / "s.db", provider=provider, artifacts_dir=tmp_path) as sw:
            with pytest.raises(ProviderError, match="not an event stream"):
                await sw.execute(RUN_PLAN)
        await provider.aclose()
    assert not one.value.retryable and "/v1" in str(one.value)
    assert "the stream ended" not in str(one.value)
    assert len(page.hits) <= 3


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_server_says_what_fails_where_and_for_how_long(
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    provider = OpenAICompatProvider(
        "k", url, create_policy=RetryPolicy(0.05, 0.1), max_create_tries=4, max_outage_s=0.6
    )
    shown = io.StringIO()
    progress = Progress(Console(file=shown, width=300), simulated=False)
    plan = {**RUN_PLAN, "defaults": {"model": MODEL, "retries": 0}, "tasks": RUN_PLAN["tasks"][:1]}
    hooks = Hooks(on_start=progress.attach, on_tick=progress.tick)
    async with Swarm(tmp_path / "s.db", provider=provider, artifacts_dir=tmp_path) as sw:
        summary = await sw.execute(plan, run_id="u", hooks=hooks)
        lines = [e async for e in sw.events("u") if e.type == "provider.retrying"]
        progress.stop()
    await provider.aclose()
    assert summary.status == "failed"
    first = lines[0].data
    assert first["where"] == url and "cannot reach" in first["error"]
    assert first["tries"] == 1 and 0 < first["gives_up_in_s"] <= 0.6
    assert lines[0].task_id == "t0"
    assert f"retrying {url}: cannot reach" in shown.getvalue()
    assert "gives up in" in shown.getvalue()

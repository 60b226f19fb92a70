"""The OpenAI-compatible provider: streaming chat completions from any server that speaks the
OpenAI API — Moonshot's platform, vLLM or SGLang serving K2.6, and others — paced by the same
rate governor and creation retries as the Replicate provider, with usage recorded the same way.

Retries cover a request until its answer starts (429, 5xx, connection errors); a stream that
breaks later fails the call as retryable, for the scheduler's own retries. Cancelling the caller
closes the connection, which is how these servers learn to stop generating.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx

from swarm.core.clock import Clock, SystemClock
from swarm.core.retry import RetryPolicy
from swarm.errors import ConfigError, ProviderError, RateLimited
from swarm.providers.base import ModelRequest, ModelResponse, estimate_tokens
from swarm.providers.governor import DEFAULT_PER_MINUTE, RateGovernor
from swarm.providers.images import image_inputs
from swarm.providers.retry import (
    CREATION_POLICY,
    DEFAULT_MAX_OUTAGE_S,
    MAX_CREATE_TRIES,
    is_retryable_status,
    max_outage_from_env,
    retry_hint,
    with_creation_retries,
)
from swarm.providers.tool_calls import ToolCallStream, tools_param
from swarm.providers.transport import ShardedTransport

KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
BASE_URL_EXAMPLES = "Moonshot: https://api.moonshot.ai/v1; vLLM or SGLang: http://localhost:8000/v1"
_PARAMS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "reasoning_effort")


def chat_body(request: ModelRequest, images: list[str]) -> dict[str, Any]:
    """A streaming ``/chat/completions`` request body; unset parameters are left out."""
    content: str | list[dict[str, Any]] = request.prompt
    if images:
        content = [{"type": "text", "text": request.prompt}]
        content += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    messages.append({"role": "user", "content": content})
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": request.max_tokens,
    }
    for key in _PARAMS:
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    return {**body, **tools_param(request.tools)}


def error_detail(body: bytes) -> str:
    """The message of an OpenAI-style error body (``{"error": {"message": …}}`` or vLLM's
    ``{"message": …}``), else the start of the raw text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(data)[:300]


def http_error(
    status: int, headers: Mapping[str, str], detail: str, model: str, base_url: str
) -> ProviderError:
    """What an error answer means for the user, and what to do about it."""
    says = f": {detail}" if detail else ""
    if status == 429:
        return RateLimited(
            f"rate limited (HTTP 429){says}", retry_after_s=retry_hint(headers, detail)
        )
    fixes = {
        401: (
            f"{base_url} rejected the API key (HTTP 401){says}",
            f"set {KEY_ENV} to a key this server accepts (and check --base-url)",
        ),
        403: (f"the API key may not use {model} (HTTP 403){says}", f"check {KEY_ENV}"),
        404: (
            f"{base_url} has no model {model!r} or no chat endpoint (HTTP 404){says}",
            f"check --model, and --base-url ({BASE_URL_EXAMPLES})",
        ),
        400: (
            f"the server refused the request for {model} (HTTP 400){says}",
            "fix the model parameters (plan defaults.params or the task's params)",
        ),
        422: (
            f"the server refused the request for {model} (HTTP 422){says}",
            "fix the model parameters (plan defaults.params or the task's params)",
        ),
    }
    if status in fixes:
        message, hint = fixes[status]
        # A rejected key fails every call alike: the whole run stops rather than each task.
        return ProviderError(
            message, retryable=False, status=status, hint=hint, ends_run=status == 401
        )
    return ProviderError(
        f"{base_url} answered HTTP {status}{says}",
        retryable=is_retryable_status(status),
        status=status,
    )


def not_a_stream(base_url: str, content_type: str) -> ProviderError:
    """A success that is a web page: the address is a website or a proxy's login, not the API;
    every call would get the same, so the run stops."""
    return ProviderError(
        f"{base_url} answered with a web page ({content_type}), not an event stream: "
        "is --base-url right?",
        retryable=False,
        hint=f"give the API's address, ending in /v1 ({BASE_URL_EXAMPLES})",
        ends_run=True,
    )


@dataclass
class Chat:
    """What a streamed chat completion delivered."""

    text: list[str] = field(default_factory=list)
    reasoning_chars: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    finish_reason: str | None = None
    first_token_s: float | None = None
    done: bool = False
    tool_calls: ToolCallStream = field(default_factory=ToolCallStream)

    def take(self, chunk: dict[str, Any], elapsed: float) -> None:
        """Fold one ``chat.completion.chunk`` into the result."""
        if "error" in chunk:
            detail = error_detail(json.dumps(chunk).encode())
            raise ProviderError(f"the server failed mid-stream: {detail}", retryable=True)
        self.id = self.id or chunk.get("id")
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            thinking = delta.get("reasoning_content") or delta.get("reasoning")
            if delta.get("tool_calls"):
                self.tool_calls.take(delta["tool_calls"])
            if content or thinking or delta.get("tool_calls"):
                self.first_token_s = self.first_token_s or elapsed
            if content:
                self.text.append(str(content))
            if thinking:
                self.reasoning_chars += len(str(thinking))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason


async def read_chat_stream(response: httpx.Response, read_timeout_s: float) -> Chat:
    """Read ``data:`` lines until ``[DONE]``; a stream that stops early is a retryable failure."""
    chat = Chat()
    opened = time.perf_counter()
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                chat.done = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                text = f"unreadable stream chunk: {data[:120]!r}"
                raise ProviderError(text, retryable=True) from None
            if isinstance(chunk, dict):
                chat.take(chunk, time.perf_counter() - opened)
    except httpx.ReadTimeout:
        raise ProviderError(f"no output for {read_timeout_s:g}s", retryable=True) from None
    except httpx.TransportError as exc:
        raise ProviderError(f"the stream broke: {type(exc).__name__}", retryable=True) from None
    if not chat.done and chat.finish_reason is None:
        raise ProviderError("the stream ended before the answer was complete", retryable=True)
    return chat


@dataclass
class _LoopClient:
    loop: object
    client: httpx.AsyncClient


class OpenAICompatProvider:
    """Chat completions from an OpenAI-compatible server; see the module docstring."""

    name = "openai"
    simulated = False

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        rate_limit: int = DEFAULT_PER_MINUTE,
        governor: RateGovernor | None = None,
        clock: Clock | None = None,
        create_policy: RetryPolicy = CREATION_POLICY,
        max_create_tries: int = MAX_CREATE_TRIES,
        max_outage_s: float = DEFAULT_MAX_OUTAGE_S,
        read_timeout_s: float = 300.0,
        max_connections: int = 1000,
        image_dir: Path | None = None,
        seed: int | None = None,
    ) -> None:
        self._key = api_key
        self.base_url = base_url.strip().rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self.governor = governor or RateGovernor(rate_limit, clock=self.clock)
        self.create_policy = create_policy
        self.max_create_tries = max_create_tries
        self.max_outage_s = max_outage_s
        """How long a call keeps retrying a server that fails transiently (see
        :class:`~swarm.providers.retry.Patience`)."""
        self.read_timeout_s = read_timeout_s
        self.max_connections = max_connections
        self.image_dir = image_dir
        self._rng = random.Random(seed)
        self._live: _LoopClient | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        base_url: str | None = None,
        rate_limit: int | None = None,
    ) -> OpenAICompatProvider:
        """Key from ``OPENAI_API_KEY``; base URL from ``--base-url`` or ``OPENAI_BASE_URL``."""
        env = os.environ if env is None else env
        url = base_url or env.get(BASE_URL_ENV, "")
        if not url:
            raise ConfigError(
                "the openai provider needs the server's address",
                hint=f"pass --base-url or set {BASE_URL_ENV} ({BASE_URL_EXAMPLES})",
            )
        key = env.get(KEY_ENV, "").strip()
        if not key:
            raise ConfigError(
                f"the openai provider needs {KEY_ENV}, which is not set",
                hint=f"export {KEY_ENV}=... (a local server without keys accepts any, e.g. EMPTY)",
            )
        return cls(
            key,
            url,
            rate_limit=rate_limit or DEFAULT_PER_MINUTE,
            max_outage_s=max_outage_from_env(env),
        )

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(base_url={self.base_url!r})"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        client = self._client()
        images = await self._images(request)
        body = chat_body(request, images)
        response, tries = await with_creation_retries(
            partial(self._open, client, body, request.model),
            governor=self.governor,
            clock=self.clock,
            rng=self._rng,
            policy=self.create_policy,
            max_tries=self.max_create_tries,
            max_outage_s=self.max_outage_s,
            where=self.base_url,
            on_retry=None
            if request.journal is None
            else partial(request.journal.retrying, request),
            on_waited=None if request.journal is None else partial(request.journal.waited, request),
        )
        try:
            chat = await read_chat_stream(response, self.read_timeout_s)
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        return self._response(request, chat, started, tries)

    async def _images(self, request: ModelRequest) -> list[str]:
        """``image_input`` values; files are read in a worker thread."""
        if not request.images:
            return []
        read = partial(image_inputs, request.images, base_dir=self.image_dir)
        return await anyio.to_thread.run_sync(read)

    async def aclose(self) -> None:
        live, self._live = self._live, None
        if live is not None and live.loop == anyio.lowlevel.current_token():
            await live.client.aclose()

    def _client(self) -> httpx.AsyncClient:
        loop = anyio.lowlevel.current_token()
        if self._live is None or self._live.loop != loop:
            client = httpx.AsyncClient(
                base_url=self.base_url + "/",
                headers={"Authorization": f"Bearer {self._key}"},
                timeout=httpx.Timeout(10.0, read=self.read_timeout_s, pool=60.0),
                transport=ShardedTransport(self.max_connections),
            )
            self._live = _LoopClient(loop, client)
        return self._live.client

    async def _open(
        self, client: httpx.AsyncClient, body: dict[str, Any], model: str
    ) -> httpx.Response:
        """Send the request; return the open streaming answer, or raise what went wrong."""
        request = client.build_request("POST", "chat/completions", json=body)
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            text = f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
            raise ProviderError(text.replace(self._key, "[API key]"), retryable=True) from None
        if response.status_code < 400:
            kind = response.headers.get("content-type", "")
            if not kind.lower().startswith("text/html"):
                return response
            await response.aclose()
            raise not_a_stream(self.base_url, kind)
        try:
            detail = error_detail(await response.aread()).replace(self._key, "[API key]")
        finally:
            await response.aclose()
        raise http_error(response.status_code, response.headers, detail, model, self.base_url)

    def _response(
        self, request: ModelRequest, chat: Chat, started: float, tries: int
    ) -> ModelResponse:
        text = "".join(chat.text)
        tokens_in = _count(chat.usage.get("prompt_tokens"))
        tokens_out = _count(chat.usage.get("completion_tokens"))
        meta: dict[str, Any] = {
            "completion_id": chat.id,
            "model": request.model,
            "finish_reason": chat.finish_reason,
            "create_tries": tries,
            "usage": "estimated" if tokens_in is None or tokens_out is None else "reported",
            "client_time_to_first_token": chat.first_token_s,
            "reasoning_chars": chat.reasoning_chars,
        }
        if tokens_in is None:
            tokens_in = estimate_in(request)
        return ModelResponse(
            text=text,
            tokens_in=tokens_in,
            tokens_out=tokens_out if tokens_out is not None else estimate_tokens(text),
            latency_s=time.perf_counter() - started,
            ref=chat.id,
            meta=meta,
            tool_calls=chat.tool_calls.calls(),
        )


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def estimate_in(request: ModelRequest) -> int:
    return estimate_tokens(request.prompt) + estimate_tokens(request.system_prompt or "")

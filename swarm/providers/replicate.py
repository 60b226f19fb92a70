"""The Replicate provider: Kimi K2.6 (or any Replicate model) through the official ``replicate``
client — paced by the rate governor, streamed, journaled before its output is awaited, and
cancelled on Replicate when its caller gives up.

One call, in order:

1. **Re-attach.** If the request's journal names a prediction an interrupted attempt created,
   fetch it: still running → follow it; succeeded → take its output; anything else (failed,
   canceled, aborted, unknown) → create a new one. If the journal instead holds only the
   *intent* of an interrupted creation (the process died between sending it and journaling
   the answer), look for its prediction in ``GET /v1/predictions?created_after=…`` by the
   intent's fingerprint of model and input, and treat it the same way. What this does and
   does not guarantee is in ``docs/reliability.md`` (F15).
2. **Record the intent** (``journal.intended``: fingerprint and time) durably, then **create**
   through :func:`~swarm.providers.retry.with_creation_retries`: every try waits for
   the shared governor; 429, 5xx and connection errors are retried (the client never retries a
   POST), 400/401/402/403/404/422 fail at once with what to fix. A provider that stays down is
   waited for, with capped and jittered backoff, for up to ``max_outage_s`` (five minutes by
   default) before the call fails; reads of a prediction get the same patience.
3. **Journal** the prediction id (``journal.created``) before reading any output.
4. **Follow**: stream the SSE output; if the stream breaks, poll the prediction instead. Then
   read the terminal prediction for its token counts and timings. A prediction Replicate no
   longer knows (404 to its GET: the provider restarted and forgot it) is journaled ``lost``
   and created again, up to ``MAX_LOST`` times.
5. **Cancel on abandon**: if the caller is cancelled (a task timeout, Ctrl-C) or the stream
   stalls past the read timeout, the prediction is cancelled on Replicate in a shielded scope.

Client facts this relies on (``replicate`` 1.0.7): one ``Client`` per event loop (it caches an
``httpx.AsyncClient``), a custom transport to size the connection pool (``limits=`` is ignored),
``FileOutput`` objects for chunks that look like URLs, and a ``Prediction`` model that cannot
parse the ``aborted`` status. Its ``ReplicateError`` drops response headers, so error answers
are turned into :class:`HttpFailure` by a response hook that keeps the retry hints.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx
from pydantic.v1 import ValidationError as ClientValidationError
from replicate.client import Client
from replicate.prediction import Prediction
from replicate.stream import ServerSentEvent

from swarm.core.clock import Clock, SystemClock
from swarm.core.retry import RetryPolicy
from swarm.errors import ConfigError, ProviderError
from swarm.providers.base import CallIntent, ModelRequest, ModelResponse, estimate_tokens
from swarm.providers.governor import DEFAULT_PER_MINUTE, RateGovernor
from swarm.providers.images import image_inputs
from swarm.providers.replicate_errors import (
    TOKEN_HELP,
    HttpFailure,
    ended_badly,
    error_hook,
    http_error,
    refused_status,
    scrub,
)
from swarm.providers.replicate_io import (
    DEFAULT_BASE_URL,
    LIVE,
    TERMINAL,
    Finished,
    Streamed,
    check_request,
    chunk_text,
    count,
    done_reason,
    estimate_in,
    fingerprint,
    finished_from,
    list_url,
    listed_fingerprint,
    model_input,
    normalise_base_url,
)
from swarm.providers.retry import (
    CREATION_POLICY,
    DEFAULT_MAX_OUTAGE_S,
    MAX_CREATE_TRIES,
    FailureStreak,
    Patience,
    max_outage_from_env,
    with_creation_retries,
)
from swarm.providers.transport import DEFAULT_SHARDS, ShardedTransport

MAX_LOST = 3
LIST_MARGIN_S = 120.0
"""How far before an intent's (local) time the list of predictions is read: room for the
difference between this machine's clock and Replicate's."""
MAX_LIST_PAGES = 50
"""At 100 predictions a page, the list a resume reads covers 5,000 predictions at most."""
"""How many times one call creates again a prediction Replicate answered 404 for (forgot)
before it fails, retryably, to the task's own retries."""


@dataclass
class _LoopClient:
    loop: object
    client: Client
    transport: ShardedTransport
    listing_lock: anyio.Lock = field(default_factory=anyio.Lock)
    listed: tuple[float, list[dict[str, Any]]] | None = None
    """(created after, the predictions) of the one list a resume reads."""
    claimed: set[str] = field(default_factory=set)
    """Predictions this loop created or follows: never adopted for another intent."""


class ReplicateProvider:
    """Runs model calls as Replicate predictions; see the module docstring for one call's life."""

    name = "replicate"
    simulated = False

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit: int = DEFAULT_PER_MINUTE,
        governor: RateGovernor | None = None,
        clock: Clock | None = None,
        create_policy: RetryPolicy = CREATION_POLICY,
        max_create_tries: int = MAX_CREATE_TRIES,
        max_outage_s: float = DEFAULT_MAX_OUTAGE_S,
        create_timeout_s: float = 30.0,
        read_timeout_s: float = 300.0,
        poll_interval_s: float = 0.5,
        cancel_timeout_s: float = 5.0,
        max_connections: int = 1000,
        pool_shards: int = DEFAULT_SHARDS,
        image_dir: Path | None = None,
        seed: int | None = None,
    ) -> None:
        if not token:
            raise ConfigError("no Replicate API token", hint=TOKEN_HELP)
        self._token = token
        self.base_url = normalise_base_url(base_url)
        self.clock: Clock = clock or SystemClock()
        self.governor = governor or RateGovernor(rate_limit, clock=self.clock)
        self.create_policy = create_policy
        self.max_create_tries = max_create_tries
        self.max_outage_s = max_outage_s
        """How long a call keeps retrying a provider that fails transiently (see
        :class:`~swarm.providers.retry.Patience`)."""
        self.create_timeout_s = create_timeout_s
        self.read_timeout_s = read_timeout_s
        self.poll_interval_s = poll_interval_s
        self.cancel_timeout_s = cancel_timeout_s
        self.max_connections = max_connections
        self.pool_shards = pool_shards
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
    ) -> ReplicateProvider:
        """Token from ``REPLICATE_API_TOKEN``; base URL from the flag, ``REPLICATE_BASE_URL``,
        or Replicate's."""
        env = os.environ if env is None else env
        token = env.get("REPLICATE_API_TOKEN", "").strip()
        if not token:
            raise ConfigError(
                "the replicate provider needs REPLICATE_API_TOKEN, which is not set",
                hint=f"{TOKEN_HELP} (or run offline with --provider sim)",
            )
        return cls(
            token,
            base_url=base_url or env.get("REPLICATE_BASE_URL") or DEFAULT_BASE_URL,
            rate_limit=rate_limit or DEFAULT_PER_MINUTE,
            max_outage_s=max_outage_from_env(env),
        )

    @property
    def patience(self) -> Patience:
        return Patience(self.create_policy, self.max_create_tries, self.max_outage_s)

    def __repr__(self) -> str:
        return f"ReplicateProvider(base_url={self.base_url!r}, rate_limit={self.governor.limit})"

    # -- one call ---------------------------------------------------------------------------

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        client = self._client()
        prediction = await self._reattach(client, request)
        journaled = prediction is not None
        if prediction is None:
            prediction = await self._recover(client, request)
        tries = 0
        for lost in range(MAX_LOST + 1):
            if prediction is None:
                prediction, tries = await self._create(client, request)
                journaled = False
            try:
                finished = await self._watch(client, request, prediction, journaled=journaled)
            except ProviderError as exc:
                if exc.status != 404 or lost == MAX_LOST:
                    raise
                prediction = None  # Replicate forgot it (a restart): create it again
                continue
            return self._response(request, finished, started, tries)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _images(self, request: ModelRequest) -> list[str]:
        """``image_input`` values; files are read in a worker thread."""
        if not request.images:
            return []
        read = partial(image_inputs, request.images, base_dir=self.image_dir)
        return await anyio.to_thread.run_sync(read)

    async def aclose(self) -> None:
        """Close this event loop's connections. Call it before the loop ends: a later call on
        another loop builds a new client, and the pool of a finished loop cannot be closed."""
        live, self._live = self._live, None
        if live is not None and live.loop == anyio.lowlevel.current_token():
            await live.transport.aclose()

    def _client(self) -> Client:
        """This event loop's client: the client caches an ``httpx.AsyncClient`` bound to the
        loop it was first used on, so each loop gets its own."""
        loop = anyio.lowlevel.current_token()
        if self._live is None or self._live.loop != loop:
            # The client ignores ``limits=``; the pool is sized by the transport we pass.
            transport = ShardedTransport(self.max_connections, self.pool_shards)
            client = Client(
                api_token=self._token,
                base_url=self.base_url,
                timeout=httpx.Timeout(10.0, read=self.read_timeout_s, pool=60.0),
                transport=transport,
                event_hooks={"response": [error_hook(self._token)]},
            )
            self._live = _LoopClient(loop, client, transport)
        return self._live.client

    async def _reattach(self, client: Client, request: ModelRequest) -> Prediction | None:
        """The prediction an interrupted attempt created, if it is worth following."""
        ref = request.journal.previous(request) if request.journal is not None else None
        if ref is None:
            return None
        if self._live is not None:
            self._live.claimed.add(ref)
        return await self._worth_following(client, ref, request.model)

    async def _worth_following(self, client: Client, ref: str, model: str) -> Prediction | None:
        """``ref`` if it still runs or has succeeded with its output; else None (create anew)."""
        try:
            found = await self._get_patiently(client, ref, model)
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise
        if isinstance(found, str):
            return None  # aborted, or a status the client cannot read
        if found.status in LIVE or (found.status == "succeeded" and found.output is not None):
            return found
        return None  # failed, canceled, or succeeded but its output was removed

    async def _recover(self, client: Client, request: ModelRequest) -> Prediction | None:
        """The prediction an interrupted attempt's creation made, found in Replicate's list by
        the fingerprint its intent recorded, if it is worth following (as :meth:`_reattach`)."""
        intent = request.journal.unresolved(request) if request.journal is not None else None
        if intent is None:
            return None
        listed = await self._listing(client, intent.at - LIST_MARGIN_S, request.model)
        live = self._live
        assert live is not None
        for item in listed:  # newest first: the intent is its task's and step's latest
            ref = item.get("id")
            if not isinstance(ref, str) or ref in live.claimed:
                continue
            if listed_fingerprint(item) != intent.fingerprint:
                continue
            live.claimed.add(ref)
            return await self._worth_following(client, ref, request.model)
        return None

    async def _listing(self, client: Client, since: float, model: str) -> list[dict[str, Any]]:
        """``GET /v1/predictions?created_after=…``, every page, once per event loop (a resume
        asks about all its interrupted creations at once). A listing that fails for good is
        treated as empty: the calls create their predictions again, as before intents."""
        live = self._live
        assert live is not None
        async with live.listing_lock:
            if live.listed is not None and live.listed[0] <= since:
                return live.listed[1]
            items: list[dict[str, Any]] = []
            url: str | None = list_url(since)
            pages = 0
            while url is not None and pages < MAX_LIST_PAGES:
                try:
                    page = await self._list_page(client, url, model)
                except ProviderError:
                    break
                results = page.get("results")
                if isinstance(results, list):
                    items.extend(r for r in results if isinstance(r, dict))
                nxt = page.get("next")
                url, pages = (nxt if isinstance(nxt, str) and nxt else None), pages + 1
            live.listed = (since, items)
            return items

    async def _list_page(self, client: Client, url: str, model: str) -> dict[str, Any]:
        """One page of the list, patiently (as reads are). Read as plain JSON: the client's
        ``predictions.async_list`` refuses a whole page that holds an ``aborted`` prediction."""
        streak = FailureStreak(self.patience, self.clock, self._rng)
        while True:
            try:
                try:
                    response = await client._async_request("GET", url)
                except HttpFailure as failure:
                    raise http_error(failure, model) from None
                except httpx.TransportError as exc:
                    raise self._unreachable(exc) from None
                body = response.json()
                return body if isinstance(body, dict) else {}
            except ProviderError as exc:
                if not exc.retryable:
                    raise
                await self.clock.sleep(streak.failed(exc, getattr(exc, "retry_after_s", None)))

    async def _create(
        self, client: Client, request: ModelRequest, payload: dict[str, Any] | None = None
    ) -> tuple[Prediction, int]:
        """Check, record the intent (durably, before anything is sent), create. ``payload``
        replaces the text model's input (an image model's, from :mod:`swarm.providers.image_gen`,
        which is not streamed)."""
        stream = payload is None
        if payload is None:
            check_request(request)
            payload = model_input(request, await self._images(request))
        if request.journal is not None:
            intent = CallIntent(fingerprint(request.model, payload), time.time())
            await request.journal.intended(request, intent)
        prediction, tries = await self._send_creation(client, request, payload, stream=stream)
        live = self._live
        if live is not None:
            live.claimed.add(prediction.id)
        return prediction, tries

    async def _send_creation(
        self, client: Client, request: ModelRequest, payload: dict[str, Any], *, stream: bool
    ) -> tuple[Prediction, int]:
        model = request.model
        ref, _, version = model.partition(":")

        async def once() -> Prediction:
            try:
                # The client sends creations without any timeout; bound them here.
                with anyio.fail_after(self.create_timeout_s):
                    created: Prediction
                    if version:
                        created = await client.predictions.async_create(
                            version=version, input=payload, stream=stream
                        )
                    else:
                        created = await client.models.predictions.async_create(
                            model=ref, input=payload, stream=stream
                        )
                    return created
            except HttpFailure as failure:
                raise http_error(failure, model) from None
            except ClientValidationError as exc:
                raise ProviderError(
                    "Replicate answered the creation with a prediction in status "
                    f"{refused_status(exc)!r}, which the replicate client cannot read",
                    retryable=True,
                ) from None
            except TimeoutError:
                raise ProviderError(
                    f"Replicate did not answer a creation within {self.create_timeout_s:g}s",
                    retryable=True,
                ) from None
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from None

        return await with_creation_retries(
            once,
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

    async def _watch(
        self, client: Client, request: ModelRequest, prediction: Prediction, journaled: bool
    ) -> Finished:
        """Journal the prediction (unless it is already), follow it to its end, and cancel it
        if we give up on it."""
        journal = request.journal
        try:
            if not journaled and journal is not None:
                await journal.created(request, prediction.id)
            finished = await self._follow(client, prediction, request.model)
        except ProviderError as exc:
            if exc.status != 404:
                await self._abandon(client, request, prediction.id)
            elif journal is not None:
                await journal.finished(request, prediction.id, "lost")
            raise
        except BaseException:
            await self._abandon(client, request, prediction.id)
            raise
        if journal is not None:
            await journal.finished(request, prediction.id, finished.status)
        return finished

    async def _abandon(self, client: Client, request: ModelRequest, ref: str) -> None:
        """Cancelled (task timeout, Ctrl-C) or failed while it may still run: stop paying."""
        with anyio.move_on_after(self.cancel_timeout_s, shield=True):
            await self._cancel(client, ref)
            if request.journal is not None:
                await request.journal.finished(request, ref, "canceled")

    async def _follow(self, client: Client, prediction: Prediction, model: str) -> Finished:
        if prediction.status not in LIVE:
            return finished_from(prediction, None)
        streamed = None
        if prediction.urls and prediction.urls.get("stream"):
            streamed = await self._read_stream(prediction)
            if streamed.stalled:
                raise ProviderError(
                    f"prediction {prediction.id}: no output for {self.read_timeout_s:g}s, "
                    "so it was cancelled",
                    retryable=True,
                )
        final = await self._settle(client, prediction.id, model)
        if isinstance(final, str):
            first = streamed.first_token_s if streamed else None
            return Finished(prediction.id, final, "", {}, None, first)
        return finished_from(final, streamed)

    async def _read_stream(self, prediction: Prediction) -> Streamed:
        """Read the prediction's SSE stream until ``done``, an error, or a broken connection."""
        chunks: list[str] = []
        first: float | None = None
        reason: str | None = "no done event"
        opened = time.perf_counter()
        try:
            source = cast(AsyncGenerator[ServerSentEvent, None], prediction.async_stream())
            async with aclosing(source) as events:
                async for event in events:
                    if event.event is ServerSentEvent.EventType.OUTPUT:
                        chunks.append(chunk_text(event.data))
                        if first is None:
                            first = time.perf_counter() - opened
                    elif event.event is ServerSentEvent.EventType.DONE:
                        reason = done_reason(event.data)
        except httpx.ReadTimeout:
            return Streamed("".join(chunks), False, first, stalled=True)
        except (httpx.TransportError, HttpFailure, RuntimeError, ValueError):
            # An ``error`` event (RuntimeError), a dropped connection, or an answer that is not
            # an event stream: the prediction itself says how it ended.
            reason = "stream broken"
        return Streamed("".join(chunks), reason is None, first)

    async def _settle(self, client: Client, ref: str, model: str) -> Prediction | str:
        """Poll until the prediction is terminal."""
        while True:
            found = await self._get_patiently(client, ref, model)
            if isinstance(found, str) or found.status in TERMINAL:
                return found
            await self.clock.sleep(self.poll_interval_s)

    async def _get_patiently(self, client: Client, ref: str, model: str) -> Prediction | str:
        """:meth:`_get`, with transient failures (5xx, resets, an outage) retried as patiently
        as creations are: a prediction keeps running on Replicate while we cannot read it."""
        streak = FailureStreak(self.patience, self.clock, self._rng)
        while True:
            try:
                return await self._get(client, ref, model)
            except ProviderError as exc:
                if not exc.retryable or exc.status == 404:  # 404: forgotten, not unreachable
                    raise
                await self.clock.sleep(streak.failed(exc, getattr(exc, "retry_after_s", None)))

    async def _get(self, client: Client, ref: str, model: str) -> Prediction | str:
        """The prediction, or the raw status if the client cannot parse it (``aborted``)."""
        try:
            found: Prediction = await client.predictions.async_get(ref)
        except ClientValidationError as exc:
            return refused_status(exc)
        except HttpFailure as failure:
            if failure.status == 404:
                raise ProviderError(
                    f"Replicate no longer knows prediction {ref} (HTTP 404 to GET); it was "
                    "lost on Replicate's side, e.g. in a restart",
                    retryable=True,
                    status=404,
                    hint="nothing to fix here: the call creates the prediction again",
                ) from None
            raise http_error(failure, model) from None
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return found

    async def _cancel(self, client: Client, ref: str) -> None:
        """Best effort: a cancel that fails leaves the prediction to finish on its own."""
        with suppress(HttpFailure, httpx.HTTPError, ClientValidationError):
            await client.predictions.async_cancel(ref)

    def _unreachable(self, exc: httpx.TransportError) -> ProviderError:
        return ProviderError(
            scrub(
                f"cannot reach Replicate at {self.base_url}: {type(exc).__name__}: {exc}",
                self._token,
            ),
            retryable=True,
        )

    def _response(
        self, request: ModelRequest, finished: Finished, started: float, tries: int
    ) -> ModelResponse:
        if finished.status != "succeeded":
            raise ended_badly(finished)
        metrics = finished.metrics
        tokens_in = count(metrics.get("input_token_count"))
        tokens_out = count(metrics.get("output_token_count"))
        meta: dict[str, Any] = {
            "prediction_id": finished.id,
            "model": request.model,
            "create_tries": tries,
            "reattached": tries == 0,
            "usage": "estimated" if tokens_in is None or tokens_out is None else "metrics",
            "client_time_to_first_token": finished.first_token_s,
        }
        for key in ("predict_time", "total_time", "time_to_first_token", "tokens_per_second"):
            if metrics.get(key) is not None:
                meta[key] = metrics[key]
        if tokens_in is None:
            tokens_in = estimate_in(request)
        return ModelResponse(
            text=finished.text,
            tokens_in=tokens_in,
            tokens_out=tokens_out if tokens_out is not None else estimate_tokens(finished.text),
            latency_s=time.perf_counter() - started,
            ref=finished.id,
            meta=meta,
        )

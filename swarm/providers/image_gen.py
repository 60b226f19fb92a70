"""Text-to-image models: the request, what comes back, and the Replicate implementation.

An image prediction lives like a text one (:mod:`swarm.providers.replicate`): created through
the shared governor with the same creation retries, journaled before its output is awaited,
re-attached on resume instead of paid twice, cancelled on Replicate if its caller gives up. It is
not streamed: the prediction is polled to its end, and its output — ``FileOutput`` URLs, in the
real ``replicate`` client's terms — is downloaded with a cap on the size and a check that the
bytes are the image type asked for (by their first bytes, not by what the server says).

The sim provider answers the same request with deterministic placeholder PNGs
(:mod:`swarm.providers.sim_images`). Cost is per image: :data:`IMAGE_PRICES` (Replicate's list
prices), overridden by ``SWARM_IMAGE_PRICES`` (JSON, ``{"owner/model": usd_per_image}``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

import anyio
import httpx

from swarm.errors import ConfigError, ProviderError
from swarm.providers.base import CallJournal, ModelRequest, Provider
from swarm.providers.images import sniff_type
from workers.rules.image import FORMATS

if TYPE_CHECKING:
    from replicate.client import Client
    from replicate.prediction import Prediction

    from swarm.providers.replicate import ReplicateProvider

DEFAULT_IMAGE_MODEL = "black-forest-labs/flux-schnell"
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
"""An image larger than this is refused (flux-schnell's PNGs are 1–2 MB)."""
IMAGE_PRICES: dict[str, float] = {
    "black-forest-labs/flux-schnell": 0.003,
    "black-forest-labs/flux-dev": 0.025,
    "black-forest-labs/flux-1.1-pro": 0.04,
}
"""US dollars per output image, from Replicate's model pages (December 2026)."""
FALLBACK_IMAGE_PRICE = 0.04
"""Unknown image models are priced like the dearest listed one: a budget is never unlimited."""


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """One text-to-image call; ``call_key`` and ``journal`` as for a :class:`ModelRequest`."""

    model: str
    prompt: str
    count: int = 1
    aspect_ratio: str = "1:1"
    output_format: str = "png"
    seed: int | None = None
    call_key: str = ""
    journal: CallJournal | None = field(default=None, compare=False, repr=False)

    def as_model_request(self) -> ModelRequest:
        """The journal's view of the call (it keys predictions by the call key)."""
        return ModelRequest(self.model, self.prompt, call_key=self.call_key, journal=self.journal)

    def model_input(self) -> dict[str, Any]:
        """flux-schnell's input: the prompt, the count, the aspect ratio, the file type."""
        payload: dict[str, Any] = {
            "prompt": self.prompt,
            "num_outputs": self.count,
            "aspect_ratio": self.aspect_ratio,
            "output_format": self.output_format,
        }
        if self.seed is not None:
            payload["seed"] = self.seed
        return payload


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes
    mime: str
    source: str
    """Where the bytes came from: the output URL, or ``sim:`` for a placeholder."""


@dataclass(frozen=True, slots=True)
class ImageResult:
    images: tuple[GeneratedImage, ...]
    ref: str | None
    """The prediction id."""
    latency_s: float
    simulated: bool = False


class ImageGenerator(Protocol):
    """Something that turns an :class:`ImageRequest` into images."""

    async def generate(self, request: ImageRequest) -> ImageResult: ...


def image_generator(provider: Provider) -> ImageGenerator:
    """The image side of a run's provider: its own ``images()`` if it has one (the sim), the
    Replicate implementation for the Replicate provider; refused for any other provider."""
    own = getattr(provider, "images", None)
    if callable(own):
        generator: ImageGenerator = own()
        return generator
    if provider.name == "replicate":
        from swarm.providers.replicate import ReplicateProvider

        if isinstance(provider, ReplicateProvider):
            return ReplicateImages(provider)
    raise ProviderError(
        f"the {provider.name!r} provider cannot generate images",
        retryable=False,
        hint="run image tasks with --provider replicate (or sim, for placeholders)",
    )


def image_price(model: str, env: dict[str, str] | None = None) -> float:
    """US dollars per image for ``model``."""
    env = dict(os.environ) if env is None else env
    table = dict(IMAGE_PRICES)
    raw = env.get("SWARM_IMAGE_PRICES")
    if raw:
        try:
            table.update({str(k): float(v) for k, v in json.loads(raw).items()})
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"SWARM_IMAGE_PRICES is not a JSON object of per-image prices: {exc}",
                hint="e.g. SWARM_IMAGE_PRICES='{\"black-forest-labs/flux-schnell\": 0.003}'",
            ) from None
    return table.get(model, FALLBACK_IMAGE_PRICE)


def check_image(data: bytes, expected: str, where: str) -> str:
    """The image's MIME type, after checking its first bytes are an image of the type asked
    for; refuses anything else (an HTML error page, a truncated file)."""
    mime = sniff_type(data[:16])
    if mime is None:
        raise ProviderError(f"{where} is not an image (first bytes {data[:8]!r})", retryable=True)
    if mime != expected:
        raise ProviderError(f"{where} is {mime}, not the {expected} asked for", retryable=True)
    return mime


class ReplicateImages:
    """Image predictions on Replicate, through the provider's client, governor and journal."""

    def __init__(self, provider: ReplicateProvider, *, download_timeout_s: float = 120.0) -> None:
        self.provider = provider
        self.download_timeout_s = download_timeout_s

    async def generate(self, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        provider = self.provider
        client = provider._client()
        asked = request.as_model_request()
        prediction = await provider._reattach(client, asked)
        created = prediction is None
        if prediction is None:
            prediction, _ = await provider._create(client, asked, payload=request.model_input())
        final = await self._watch(client, asked, prediction, created=created)
        urls = output_urls(final.output)
        if not urls:
            raise ProviderError(f"prediction {final.id} succeeded with no image", retryable=True)
        expected = FORMATS[request.output_format]
        images = [await self._download(client, url, expected, request.model) for url in urls]
        return ImageResult(tuple(images), final.id, time.perf_counter() - started)

    async def _watch(
        self, client: Client, asked: ModelRequest, prediction: Prediction, *, created: bool
    ) -> Prediction:
        """Journal the prediction, poll it to its end, cancel it if we give up on it."""
        provider, journal = self.provider, asked.journal
        try:
            if created and journal is not None:
                await journal.created(asked, prediction.id)
            final = await provider._settle(client, prediction.id, asked.model)
        except BaseException:
            with anyio.move_on_after(provider.cancel_timeout_s, shield=True):
                await provider._cancel(client, prediction.id)
                if journal is not None:
                    await journal.finished(asked, prediction.id, "canceled")
            raise
        status = final if isinstance(final, str) else final.status
        if journal is not None:
            await journal.finished(asked, prediction.id, status)
        if isinstance(final, str) or final.status != "succeeded":
            raise ProviderError(
                f"image prediction {prediction.id} ended {status!r}"
                + (f": {final.error}" if not isinstance(final, str) and final.error else ""),
                retryable=True,
            )
        return final

    async def _download(
        self, client: Client, url: str, expected: str, model: str
    ) -> GeneratedImage:
        """One output file, read through the client as a ``FileOutput``, capped in size."""
        from replicate.helpers import FileOutput

        from swarm.providers.replicate_errors import HttpFailure, http_error

        self._check_url(url)
        data = bytearray()
        chunks = cast(AsyncGenerator[bytes, None], FileOutput(url, client).__aiter__())
        try:
            with anyio.fail_after(self.download_timeout_s):
                async with aclosing(chunks):
                    async for chunk in chunks:
                        data += chunk
                        if len(data) > MAX_DOWNLOAD_BYTES:
                            raise ProviderError(
                                f"image {url} is larger than {MAX_DOWNLOAD_BYTES // 2**20} MB",
                                retryable=False,
                                hint="ask for a smaller aspect ratio or a compressed format",
                            )
        except HttpFailure as failure:
            raise http_error(failure, model) from None
        except TimeoutError:
            raise ProviderError(
                f"image {url} did not download within {self.download_timeout_s:g}s",
                retryable=True,
            ) from None
        except httpx.TransportError as exc:
            raise ProviderError(f"cannot download {url}: {exc}", retryable=True) from None
        mime = check_image(bytes(data), expected, f"image {url}")
        return GeneratedImage(bytes(data), mime, url)

    def _check_url(self, url: str) -> None:
        """Output files come from https (Replicate's delivery hosts) or, for a local stand-in,
        the provider's own base URL; nothing else is fetched with the API token."""
        base = urlsplit(self.provider.base_url)
        parts = urlsplit(url)
        local = (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
        if parts.scheme != "https" and not local:
            raise ProviderError(f"refused to download {url!r}: not an https URL", retryable=False)


def output_urls(output: object) -> list[str]:
    """The file URLs of an image prediction's output (a list of them, or one)."""
    items = output if isinstance(output, list) else [output]
    return [str(getattr(i, "url", i)) for i in items if isinstance(getattr(i, "url", i), str)]

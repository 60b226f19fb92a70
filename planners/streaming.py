"""Streaming from providers: an optional protocol for providers that yield text as it is made.

The :class:`~swarm.providers.base.Provider` protocol has only ``complete()``. A provider that
can also stream implements ``stream()``; :func:`text_chunks` uses it when it is there and
otherwise replays one ``complete()`` answer line by line, so callers read chunks either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from swarm.providers.base import ModelRequest, Provider


@runtime_checkable
class StreamingProvider(Protocol):
    """A provider that can hand out its answer in pieces while the model writes it."""

    def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        """The answer's text in chunks, in order; raises ProviderError like ``complete()``."""
        ...


def can_stream(provider: object) -> bool:
    return isinstance(provider, StreamingProvider)


async def text_chunks(provider: Provider, request: ModelRequest) -> AsyncIterator[str]:
    """The answer to ``request`` in chunks: streamed if the provider can, else replayed."""
    if isinstance(provider, StreamingProvider):
        async for chunk in provider.stream(request):
            yield chunk
        return
    response = await provider.complete(request)
    for line in response.text.splitlines(keepends=True):
        yield line

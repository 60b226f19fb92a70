"""An httpx transport that spreads requests over several connection pools, so hundreds of
concurrent streams do not spend their time in pool bookkeeping.

httpcore's pool (1.0.x) re-examines every connection for every queued request each time a
request starts or ends, and for every idle connection it also counts all connections: the work
per change grows with the square of the pool's size. With 150-300 live streams in one pool,
measured here, a burst of requests took seconds of CPU in ``_assign_requests_to_connections``.
Sixteen pools of a sixteenth of the size each do about a sixteenth of that work per change.
Each request goes to the pool with the fewest requests in flight, so no pool fills up while
another has room.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import httpx

DEFAULT_SHARDS = 16


class _Counted(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._stream = stream
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        done, self._done = self._done, None
        try:
            await self._stream.aclose()
        finally:
            if done is not None:
                done()


class ShardedTransport(httpx.AsyncBaseTransport):
    """``shards`` pools sharing ``max_connections`` between them; see the module docstring."""

    def __init__(self, max_connections: int = 1000, shards: int = DEFAULT_SHARDS) -> None:
        shards = max(1, min(shards, max_connections))
        per = math.ceil(max_connections / shards)
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        tls = httpx.create_ssl_context()  # loading the CA bundle once, not once a pool
        self._pools = [httpx.AsyncHTTPTransport(limits=limits, verify=tls) for _ in range(shards)]
        self.in_flight = [0] * shards
        """Requests whose answers are not yet closed, per pool."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._pools)), key=self.in_flight.__getitem__)
        self.in_flight[index] += 1

        def done() -> None:
            self.in_flight[index] -= 1

        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            done()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Counted(response.stream, done),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

"""The base of the local fake servers: a threaded HTTP/1.1 server on 127.0.0.1 with keep-alive,
JSON and chunked event-stream answers, and a context manager that starts and stops it.

Threads rather than an event loop, so a fake can run beside the code under test in one process
and hold hundreds of open streams, each a thread that mostly sleeps.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 2048
    """The default backlog of 5 makes clients see sporadic connection errors under load."""
    fake: FakeHTTP

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | OSError):
            return  # a client that went away mid-answer is part of the game
        super().handle_error(request, client_address)


class Exchange(BaseHTTPRequestHandler):
    """One request and the helpers to answer it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """Events are small writes; Nagle would hold each one back until the last is acknowledged."""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self.server.fake.dispatch(self)

    do_POST = do_GET
    do_DELETE = do_GET

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_json(self) -> Any:
        """The request body as JSON, or None if it is empty or not JSON."""
        try:
            return json.loads(self.read_body() or b"null")
        except ValueError:
            return None

    def send_json(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_problem(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        """An RFC 7807 problem answer, as Replicate sends for every error."""
        body = {"title": title, "detail": detail, "status": status}
        self.send_json(status, body, headers, content_type="application/problem+json")

    def start_stream(self, content_type: str = "text/event-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def send_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop(self) -> None:
        """Close the connection without (finishing) an answer: a reset, as far as a client sees."""
        self.close_connection = True


@dataclass(frozen=True, slots=True)
class Hit:
    """One request as the fake saw it."""

    t: float
    """The fake's clock (``time.monotonic()`` unless it was given another) when the request
    arrived."""
    method: str
    path: str
    status: int
    """The answer's status; 0 for a dropped connection."""
    key: str | None = None
    """What the request was for (the prompt of a creation), so tests can follow one caller."""
    retry_after: str | None = None


class FakeHTTP:
    """Start with ``with Fake() as fake:`` (or ``start()``/``stop()``); ``base_url`` is its
    address. Subclasses implement :meth:`dispatch`.

    ``clock`` is what the fake reads for every time it keeps or schedules: give it the clock of
    the code under test (a :class:`~swarm.testing.clock.ScaledClock`) so that an outage of
    minutes takes seconds and both sides agree when it ends.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.hits: list[Hit] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the fake is not running"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = _Server(("127.0.0.1", 0), Exchange)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def dispatch(self, exchange: Exchange) -> None:  # pragma: no cover - subclasses answer
        exchange.send_problem(404, "Not found", "no such endpoint")

    def record(self, hit: Hit) -> None:
        with self.lock:
            self.hits.append(hit)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the fake is stopping."""
        return not self.stopping.wait(max(0.0, seconds))

    def now(self) -> float:
        return self.clock()


def sse(event: str | None, data: str, event_id: str | None) -> bytes:
    """One server-sent event; a multi-line payload becomes one ``data:`` line per line."""
    lines = [f"event: {event}"] if event else []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()

"""``swarm export RUN --format otlp [-o FILE | --endpoint URL]``: a run's trace rebuilt from the
database alone, written as OTLP/JSON or sent to an OTLP/HTTP receiver (Phoenix, Jaeger, a
collector). A run from last month, or one that ran with live export off, exports the same trace
a live export would have sent."""

from __future__ import annotations

import json
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import typer

from swarm import __version__
from swarm.errors import ConfigError, ExportError
from swarm.store.queries import Queries
from swarm.telemetry.live import capture_content
from swarm.telemetry.load import load_run_log
from swarm.telemetry.otlp import export_request
from swarm.telemetry.trace_model import Span, build_trace

BATCH = 512
"""Spans per OTLP request when sending to an endpoint."""


def export_trace(
    queries: AbstractAsyncContextManager[Queries],
    run_id: str,
    output: Path | None,
    quiet: bool,
    fmt: str,
    endpoint: str | None,
) -> None:
    """The ``--format otlp`` branch of ``swarm export`` (``queries``: over the chosen database)."""
    if fmt != "otlp" or (endpoint is not None and output is not None):
        raise ConfigError(
            f"--format {fmt!r}" + (" with both -o and --endpoint" if fmt == "otlp" else "")
            + " is not an export this command makes",
            hint="use --format json, or --format otlp with either -o FILE or --endpoint URL",
        )  # fmt: skip

    async def main() -> list[Span]:
        async with queries as q:
            return await rebuilt_trace(q, run_id)

    spans = anyio.run(main)
    if endpoint is None:
        write_or_print(spans, output, quiet)
    else:
        typer.echo(f"sent {send(spans, endpoint)} spans to {endpoint}", err=True)


async def rebuilt_trace(q: Queries, run_id: str) -> list[Span]:
    """The run's spans from the database (an unfinished run: up to now)."""
    log = await load_run_log(q, run_id)
    return build_trace(log, content=capture_content(), now=time.time())


def write_or_print(spans: list[Span], output: Path | None, quiet: bool) -> None:
    """OTLP/JSON: one ``ExportTraceServiceRequest`` on one line, to ``output`` or stdout."""
    text = json.dumps(export_request(spans, __version__), separators=(",", ":"))
    if output is None:
        typer.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    if not quiet:
        typer.echo(f"wrote {len(spans)} spans to {output}", err=True)


def send(spans: list[Span], endpoint: str) -> int:
    """POST the spans to an OTLP/HTTP traces endpoint (protobuf); the number sent."""
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            f"--endpoint {endpoint!r} is not an http(s) URL",
            hint="e.g. --endpoint http://127.0.0.1:4318/v1/traces",
        )
    from swarm.telemetry.sdk import send_spans

    if not send_spans(spans, endpoint, batch=BATCH):
        raise ExportError(
            f"the OTLP receiver at {endpoint} refused the trace or could not be reached",
            hint="check that it runs and takes OTLP/HTTP protobuf on that path "
            "(usually /v1/traces), then export again",
        )
    return len(spans)

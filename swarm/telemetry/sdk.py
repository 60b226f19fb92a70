"""The OpenTelemetry SDK side (the ``otel`` extra): swarm's spans as SDK spans, and the sinks
that queue them for an exporter. Imported only when an export was asked for."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from swarm.errors import ConfigError
from swarm.telemetry.trace_model import SCOPE, Attributes, Span

try:
    from opentelemetry import trace as trace_api
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigError(
        f"exporting traces needs the OpenTelemetry SDK ({exc.name} is missing)",
        hint='install it with: pip install "swarm-harness[otel]"',
    ) from None

SERVICE_NAME = "swarm"
QUEUE_SIZE = 8192
"""The live export's queue, in spans (``OTEL_BSP_MAX_QUEUE_SIZE`` overrides it): past it spans
are dropped, and counted, rather than held in memory or waited for."""

_KINDS = {"INTERNAL": trace_api.SpanKind.INTERNAL, "CLIENT": trace_api.SpanKind.CLIENT}
_CODES = {
    "UNSET": trace_api.StatusCode.UNSET,
    "OK": trace_api.StatusCode.OK,
    "ERROR": trace_api.StatusCode.ERROR,
}


def resource() -> Resource:
    from swarm import __version__

    return Resource.create({"service.name": SERVICE_NAME, "service.version": __version__})


def readable_spans(spans: Sequence[Span], res: Resource | None = None) -> list[ReadableSpan]:
    """swarm's spans as the SDK's finished spans, ready for any ``SpanExporter``."""
    res = res or resource()
    scope = InstrumentationScope(SCOPE, _version())
    return [_readable(span, res, scope) for span in spans]


def _readable(span: Span, res: Resource, scope: InstrumentationScope) -> ReadableSpan:
    flags = trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED)
    context = trace_api.SpanContext(span.trace_id, span.span_id, False, flags)
    parent = (
        None
        if span.parent_id is None
        else trace_api.SpanContext(span.trace_id, span.parent_id, False, flags)
    )
    links = [
        trace_api.Link(
            trace_api.SpanContext(link.trace_id, link.span_id, False, flags),
            _attrs(link.attributes),
        )
        for link in span.links
    ]
    events = [Event(e.name, _attrs(e.attributes), _ns(e.at)) for e in span.events]
    status = trace_api.Status(_CODES[span.status], span.status_message)
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=res,
        attributes=_attrs(span.attributes),
        events=events,
        links=links,
        kind=_KINDS[span.kind],
        status=status,
        start_time=_ns(span.start),
        end_time=_ns(span.end),
        instrumentation_scope=scope,
    )


class CountingExporter(SpanExporter):
    """An exporter that counts what its inner exporter accepted and refused."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.failed = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:  # an exporter bug must not kill the export thread
            result = SpanExportResult.FAILURE
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.exported += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class BatchSink:
    """A live sink: the SDK's ``BatchSpanProcessor`` (bounded queue, its own thread)."""

    def __init__(self, exporter: SpanExporter, *, max_queue_size: int | None = None) -> None:
        self.counter = CountingExporter(exporter)
        batch = None if max_queue_size is None else min(512, max_queue_size)
        self.processor = BatchSpanProcessor(
            self.counter, max_queue_size=max_queue_size, max_export_batch_size=batch
        )
        self._resource = resource()

    def emit(self, spans: list[Span]) -> None:
        for span in readable_spans(spans, self._resource):
            self.processor.on_end(span)

    def close(self, timeout_s: float) -> tuple[int, int]:
        self.processor.force_flush(int(timeout_s * 1000))
        self.processor.shutdown()  # type: ignore[no-untyped-call]
        return self.counter.exported, self.counter.failed


def otlp_exporter(endpoint: str) -> SpanExporter:
    """The SDK's OTLP/HTTP protobuf exporter (headers, timeout… from the usual variables)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            f"exporting traces needs the OTLP exporter ({exc.name} is missing)",
            hint='install it with: pip install "swarm-harness[otel]"',
        ) from None
    return OTLPSpanExporter(endpoint=endpoint)


def send_spans(spans: Sequence[Span], endpoint: str, *, batch: int = 512) -> bool:
    """Export ``spans`` to an OTLP/HTTP endpoint now, in requests of ``batch``; all accepted?"""
    exporter = otlp_exporter(endpoint)
    try:
        sdk_spans = readable_spans(spans)
        for start in range(0, len(sdk_spans), batch):
            if exporter.export(sdk_spans[start : start + batch]) is not SpanExportResult.SUCCESS:
                return False
        return True
    finally:
        exporter.shutdown()


def otlp_sink(endpoint: str) -> BatchSink:
    import os

    size = os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE")
    return BatchSink(otlp_exporter(endpoint), max_queue_size=None if size else QUEUE_SIZE)


def _attrs(attributes: Attributes) -> dict[str, str | bool | int | float | tuple[str, ...]]:
    return dict(attributes)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _version() -> str:
    from swarm import __version__

    return __version__

"""OTLP/JSON: spans as the JSON form of an OTLP ``ExportTraceServiceRequest`` (stdlib only).

This is what ``swarm export RUN --format otlp -o FILE`` writes, and what an OTLP/HTTP receiver
takes with ``Content-Type: application/json`` (the collector's ``otlpjsonfile`` receiver reads
one such request per line). The encoding follows the OTLP specification's JSON rules: hex trace
and span ids, integer enums, 64-bit integers as strings, lowerCamelCase field names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swarm.telemetry.trace_model import SCOPE, Attributes, AttrValue, Span

SERVICE_NAME = "swarm"
_KIND = {"INTERNAL": 1, "CLIENT": 3}
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


def export_request(spans: Sequence[Span], version: str) -> dict[str, Any]:
    """One ``ExportTraceServiceRequest`` holding ``spans`` (one resource, one scope)."""
    resource: Attributes = {"service.name": SERVICE_NAME, "service.version": version}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource)},
                "scopeSpans": [
                    {
                        "scope": {"name": SCOPE, "version": version},
                        "spans": [_span(s) for s in spans],
                    }
                ],
            }
        ]
    }


def _span(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": f"{span.trace_id:032x}",
        "spanId": f"{span.span_id:016x}",
        "name": span.name,
        "kind": _KIND[span.kind],
        "startTimeUnixNano": str(_ns(span.start)),
        "endTimeUnixNano": str(_ns(span.end)),
        "attributes": _attributes(span.attributes),
        "events": [
            {
                "timeUnixNano": str(_ns(e.at)),
                "name": e.name,
                "attributes": _attributes(e.attributes),
            }
            for e in span.events
        ],
        "links": [
            {
                "traceId": f"{link.trace_id:032x}",
                "spanId": f"{link.span_id:016x}",
                "attributes": _attributes(link.attributes),
            }
            for link in span.links
        ],
        "status": {"code": _STATUS[span.status]},
    }
    if span.parent_id is not None:
        out["parentSpanId"] = f"{span.parent_id:016x}"
    if span.status_message:
        out["status"]["message"] = span.status_message
    return out


def _attributes(attributes: Attributes) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in attributes.items()]


def _value(value: AttrValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, tuple):
        return {"arrayValue": {"values": [{"stringValue": v} for v in value]}}
    return {"stringValue": value}


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)

"""OpenTelemetry GenAI traces of runs: built from the database or from a live run's commits.

:mod:`~swarm.telemetry.trace_model` turns what a run recorded into spans (pure, no I/O, no
OpenTelemetry import); :mod:`~swarm.telemetry.load` reads those records from a store;
:mod:`~swarm.telemetry.live` follows a running run; :mod:`~swarm.telemetry.otlp` encodes spans as
OTLP/JSON and :mod:`~swarm.telemetry.sdk` hands them to the OpenTelemetry SDK (the ``otel``
extra), which is imported only when an export is asked for.
"""

"""OpenTelemetry tracing of agent runs and model requests (pydantic-ai's instrumentation).

``SOLOOS_TRACING=otlp`` sends spans to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (Jaeger, Tempo, Honeycomb,
Logfire…), ``console`` prints them, ``off`` (default) adds nothing. Message content is left out of
spans unless ``SOLOOS_TRACING_CONTENT=true``: prompts carry client data and e-mails.
"""

from __future__ import annotations

from typing import Literal

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from pydantic_ai import Agent, InstrumentationSettings

Tracing = Literal["off", "console", "otlp"]


def configure_tracing(
    mode: Tracing, *, include_content: bool = False, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Instrument every agent; returns the provider (call ``shutdown()`` to flush), or None when off."""
    if mode == "off" and exporter is None:
        return None
    if exporter is None:
        if mode == "console":
            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint and headers from the standard OTEL_* variables
    provider = TracerProvider(resource=Resource.create({"service.name": "soloos"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider, include_content=include_content))
    return provider


def stop_tracing(provider: TracerProvider | None) -> None:
    if provider is not None:
        provider.shutdown()
    Agent.instrument_all(False)

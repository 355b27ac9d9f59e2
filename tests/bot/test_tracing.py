"""Agent runs and model requests become OpenTelemetry spans when tracing is on; content stays out."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bot.tracing import configure_tracing, stop_tracing
from tests.support.chat import FakeChat
from tests.support.models import Script, say


async def test_a_model_turn_is_traced_without_its_content(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    provider = configure_tracing("off", exporter=exporter)
    try:
        app = with_model(Script([say("Acme's retainer renews in March.")]))
        await FakeChat(app, workspace).say("when does the Acme retainer renew, and what should I prepare?")
        assert provider is not None
        provider.force_flush()
    finally:
        stop_tracing(provider)
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert any("coordinator" in name for name in names), names
    assert any(name.startswith("chat ") for name in names), names  # the model request
    attributes = " ".join(str(dict(span.attributes or {})) for span in spans)
    assert "Acme's retainer renews" not in attributes and "what should I prepare" not in attributes
    assert "gen_ai.usage.input_tokens" in attributes

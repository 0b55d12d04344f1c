"""Spans recorded by the OpenTelemetry SDK's in-memory exporter while the clients are
instrumented (imported only where the SDK is installed: see ``conftest.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

from esdb_wire import RecordedEvent
from esdb_wire.instrumentation.opentelemetry import EsdbWireInstrumentor


class Recorder:
    """A tracer provider of its own (the global one is left alone) whose spans are kept
    in memory; ``tracer`` is an application's tracer on it."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests.instrumentation")

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The ended spans (named ``name``), oldest first."""
        spans = self.exporter.get_finished_spans()
        return [span for span in spans if name is None or span.name == name]

    def only(self, name: str) -> ReadableSpan:
        """The one ended span named ``name``."""
        spans = self.spans(name)
        assert len(spans) == 1, [span.name for span in self.spans()]
        return spans[0]


@contextmanager
def instrumented() -> Iterator[Recorder]:
    """The clients instrumented with a :class:`Recorder`'s provider, then not."""
    recorder = Recorder()
    instrumentor = EsdbWireInstrumentor()
    instrumentor.instrument(tracer_provider=recorder.provider)
    try:
        yield recorder
    finally:
        instrumentor.uninstrument()
        recorder.provider.shutdown()


def trace_ids(span: ReadableSpan) -> dict[str, str]:
    """The metadata members that name ``span``."""
    context = span.get_span_context()
    assert context is not None
    return {
        "$traceId": format_trace_id(context.trace_id),
        "$spanId": format_span_id(context.span_id),
    }


def metadata_of(event: RecordedEvent) -> Any:
    """An event's metadata, parsed."""
    return json.loads(event.metadata)


def attributes(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict."""
    return dict(span.attributes or {})

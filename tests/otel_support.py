"""Helpers of the OpenTelemetry tests: a tracer provider whose spans stay in memory."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["Spans", "is_child"]


class Spans:
    """The spans a test's tracer provider has finished, found by name and by parent."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def all(self) -> list[ReadableSpan]:
        """Return every finished span, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """Return the finished spans called *name*, in the order they ended."""
        return [span for span in self.all() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        """Return the one finished span called *name*."""
        [span] = self.named(name)
        return span

    def ending(self, suffix: str) -> ReadableSpan:
        """Return the one finished span whose name ends with *suffix*."""
        [span] = [span for span in self.all() if span.name.endswith(suffix)]
        return span

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """Return the finished spans whose parent is *parent*, ordered by start time."""
        assert parent.context is not None
        return sorted(
            (
                span
                for span in self.all()
                if span.parent is not None and span.parent.span_id == parent.context.span_id
            ),
            key=lambda span: (span.start_time or 0, span.name),
        )


def is_child(span: ReadableSpan, parent: ReadableSpan) -> bool:
    """Whether *span*'s parent is *parent*, in the same trace."""
    assert span.context is not None
    assert parent.context is not None
    return (
        span.parent is not None
        and span.parent.span_id == parent.context.span_id
        and span.context.trace_id == parent.context.trace_id
    )

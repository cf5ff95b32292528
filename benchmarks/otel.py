"""What OpenTelemetry spans cost a run: ``python benchmarks/otel.py`` (``--smoke``: once each).

W1's work (30 synchronous handlers over three phases, one event) on a dispatcher:

- untraced;
- instrumented (``twisted_event_dispatcher.otel.instrument``): a span per run,
  phase and handler call, with the SDK's ``BatchSpanProcessor`` (what an
  application uses) and with its ``SimpleSpanProcessor``, each exporting to an
  exporter that drops the spans, so the figures are the spans' cost, not an
  exporter's;
- instrumented the other way the issue allowed: handler calls as two span
  events on their phase's span (``handler_called`` and ``handler_settled``)
  rather than spans of their own.  It is built here, from the same hook, only
  to be measured.

Prints a table of median times per event and ratios to the untraced run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Case, Settings, format_ns, format_ratio, markdown_table, measure  # noqa: E402
from _peers import PHASES, new_dispatcher  # noqa: E402
from _workloads import EVENT, spread, sync_handler  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from twisted_event_dispatcher.otel import instrument  # noqa: E402
from twisted_event_dispatcher.otel._instrument import _ns, _Observer, _RunSpans  # noqa: E402
from twisted_event_dispatcher.runtime._observe import set_observer  # noqa: E402


class DropSpans(SpanExporter):
    def export(self, _spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _EventsRun:
    """Handler calls as span events on the phase span (the alternative measured)."""

    def __init__(self, observer: _Observer, run: Any) -> None:
        self.spans = _RunSpans(observer, run)

    def phase_entered(self, phase: str) -> None:
        self.spans.phase_entered(phase)

    def handler_calling(self, reg: Any, started: float) -> object:
        phase = self.spans._phase
        assert phase is not None
        attributes = {"ted.handler.id": reg.handler_id, "ted.handler.name": reg.name}
        phase.add_event("handler_called", attributes, timestamp=_ns(started))
        return None

    def handler_returned(self, _token: object) -> None:
        return None

    def handler_settled(self, outcome: Any) -> None:
        phase = self.spans._phase
        assert phase is not None
        phase.add_event(
            "handler_settled",
            {
                "ted.handler.id": outcome.handler_id,
                "ted.handler.name": outcome.handler_name,
                "ted.handler.status": outcome.status,
            },
            timestamp=_ns(outcome.settled_at),
        )

    def run_ended(self, result: Any) -> None:
        self.spans.run_ended(result)

    def run_rejected(self, failure: Any) -> Any:
        return self.spans.run_rejected(failure)


class _EventsObserver:
    def __init__(self, tracer: Any) -> None:
        self.inner = _Observer(tracer, 512)

    def observe_run(self, run: Any) -> _EventsRun:
        return _EventsRun(self.inner, run)

    def outgoing_trace_headers(self) -> dict[str, str]:
        return {}

    def incoming_trace_context(self, _headers: Any) -> tuple[tuple[str, str], ...]:
        return ()


def _case(name: str, setup: Callable[[Any], object]) -> Case:
    dispatcher = new_dispatcher()
    for phase, handlers in zip(PHASES, spread([sync_handler() for _ in range(30)]), strict=True):
        for handler in handlers:
            dispatcher.add_event_handler(handler, phase, use_weakref=False)
    setup(dispatcher)
    fire = dispatcher.fire_event
    return Case(name, lambda: fire(EVENT))


def _provider(processor: Any) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="run every case once")
    options = parser.parse_args(argv)
    settings = (
        Settings(rounds=1, sample_ns=0, smoke=True)
        if options.smoke
        else Settings(rounds=15, sample_ns=200_000_000)
    )
    batch = _provider(BatchSpanProcessor(DropSpans(), max_queue_size=1 << 16))
    simple = _provider(SimpleSpanProcessor(DropSpans()))
    events_tracer = trace.get_tracer("bench", tracer_provider=batch)
    cases = [
        _case("untraced", lambda _: None),
        _case("spans, batch processor", lambda d: instrument(d, tracer_provider=batch)),
        _case("spans, simple processor", lambda d: instrument(d, tracer_provider=simple)),
        _case(
            "handler events, batch processor",
            lambda d: set_observer(d, _EventsObserver(events_tracer)),
        ),
    ]
    times = measure(cases, settings)
    base = times["untraced"]
    rows = [
        [name, format_ns(value), format_ratio(value / base), format_ns(value - base)]
        for name, value in times.items()
    ]
    print("W1 (30 sync handlers, 3 phases) per event, instrumented with OpenTelemetry")
    print(markdown_table(["case", "per event", "vs untraced", "added"], rows))
    batch.shutdown()
    simple.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

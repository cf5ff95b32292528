"""The spans of an instrumented dispatcher: structure, parenthood, attributes, statuses, times."""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from twisted.internet import task
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.python.failure import Failure

from otel_support import Spans, is_child
from support import Recorder, add, fire, result_of, started
from twisted_event_dispatcher import (
    DispatcherNotRunning,
    EventDispatcher,
    HandlerTimedOut,
    QueueFull,
    RunOrigin,
)
from twisted_event_dispatcher.otel import (
    ATTRIBUTES,
    DEFAULT_VALUE_LIMIT,
    PACKAGE_HINT,
    TRACER_NAME,
    Instrumentation,
    instrument,
)
from twisted_event_dispatcher.otel._attributes import exception_attributes
from twisted_event_dispatcher.testing import dispatcher_on_clock, fire_and_settle


@pytest.fixture
def spans() -> Iterator[Spans]:
    """A tracer provider that keeps every finished span in memory, shut down after the test."""
    recorded = Spans()
    yield recorded
    recorded.provider.shutdown()


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _exception(span: ReadableSpan) -> dict[str, Any]:
    [event] = [event for event in span.events if event.name == "exception"]
    return dict(event.attributes or {})


class Order:
    """An application event."""


def test_one_span_per_run_phase_and_handler(spans: Spans) -> None:
    """A run is a span, each phase a child span, and each handler call a child of its phase."""
    dispatcher, _ = started("kind")
    recorder = Recorder()
    add(dispatcher, recorder.sync("check"), "before", kind="order")
    add(dispatcher, recorder.sync("reserve"), "during", kind="order")
    add(dispatcher, recorder.sync("ship"), "during", kind="order")
    instrument(dispatcher, tracer_provider=spans.provider)
    result_of(fire(dispatcher, Order(), kind="order"))
    run = spans.one("run Order")
    assert [span.name for span in spans.children(run)] == [
        "phase after",
        "phase before",
        "phase during",
    ]
    assert [span.name for span in spans.children(spans.one("phase before"))] == [
        "handler support.check"
    ]
    assert [span.name for span in spans.children(spans.one("phase during"))] == [
        "handler support.reserve",
        "handler support.ship",
    ]
    assert run.parent is None
    assert run.kind is SpanKind.INTERNAL
    assert len(spans.all()) == 7
    assert {span.context.trace_id for span in spans.all() if span.context} == {
        run.context.trace_id if run.context else 0
    }
    assert run.instrumentation_scope is not None
    assert run.instrumentation_scope.name == TRACER_NAME


def test_attributes_of_the_spans(spans: Spans) -> None:
    """The spans carry the run id, event type, details, phase, handler and outcome."""
    dispatcher, _ = started("kind", "user")
    recorder = Recorder()
    handler_id = add(dispatcher, recorder.sync("reserve"), "during", kind="order")
    instrument(dispatcher, tracer_provider=spans.provider)
    run = result_of(fire(dispatcher, Order(), kind="order", user=("ann", 7)))
    run_span = spans.one("run Order")
    assert _attributes(run_span) == {
        "ted.run.id": run.run_id,
        "ted.event.type": "Order",
        "ted.detail.kind": "order",
        "ted.detail.user": "('ann', 7)",
        "ted.run.status": "completed",
        "ted.run.handlers": 1,
        "ted.run.failures": 0,
    }
    assert _attributes(spans.one("phase during")) == {
        "ted.run.id": run.run_id,
        "ted.phase": "during",
        "ted.phase.failed": False,
    }
    assert _attributes(spans.one("handler support.reserve")) == {
        "ted.run.id": run.run_id,
        "ted.phase": "during",
        "ted.handler.id": handler_id,
        "ted.handler.name": "support.reserve",
        "ted.handler.call": 1,
        "ted.handler.status": "succeeded",
    }
    assert {span.status.status_code for span in spans.all()} == {StatusCode.UNSET}
    documented = {name.replace("<keyword>", "kind") for name in ATTRIBUTES}
    for span in spans.all():
        assert set(_attributes(span)) - {"ted.detail.user"} <= documented


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_detail_values_are_bounded(spans: Spans) -> None:
    """Plain values stay typed; long strings and reprs are cut; a failing repr breaks nothing."""
    recorder = Recorder()
    dispatcher, _ = started("a", "b", "c", "d", "e", "f")
    add(dispatcher, recorder.sync("h"), "during")
    instrument(dispatcher, tracer_provider=spans.provider, max_value_length=20)
    result_of(fire(dispatcher, "e", a=True, b=2.5, c=2**70, d="x" * 100, e=_Unprintable(), f=3))
    attributes = _attributes(spans.one("run str"))
    assert attributes["ted.detail.a"] is True
    assert attributes["ted.detail.b"] == 2.5
    assert attributes["ted.detail.f"] == 3
    assert attributes["ted.detail.c"] == repr(2**70)[:20] + "… (2 more characters)"
    assert attributes["ted.detail.d"] == "x" * 20 + "… (80 more characters)"
    assert attributes["ted.detail.e"] == "<unrepresentable _Unprintable object>"
    assert DEFAULT_VALUE_LIMIT == 512


def test_handler_errors_are_recorded(spans: Spans) -> None:
    """A failing handler's span records the exception and is ERROR, as are its phase and run."""
    dispatcher, _ = started("kind")
    recorder = Recorder()
    add(dispatcher, recorder.failing("charge", ValueError("card declined")), "during")
    add(dispatcher, recorder.sync("notify"), "after")
    instrument(dispatcher, tracer_provider=spans.provider)
    run = result_of(fire(dispatcher, Order()))
    assert run.status == "completed"
    handler = spans.one("handler support.charge")
    assert handler.status.status_code is StatusCode.ERROR
    assert handler.status.description == "ValueError: card declined"
    assert _attributes(handler)["ted.handler.status"] == "failed"
    exception = _exception(handler)
    assert exception["exception.type"] == "ValueError"
    assert exception["exception.message"] == "card declined"
    assert "raise error" in exception["exception.stacktrace"]
    assert exception["exception.stacktrace"].endswith("ValueError: card declined")
    phase = spans.one("phase during")
    assert phase.status.status_code is StatusCode.ERROR
    assert _attributes(phase)["ted.phase.failed"] is True
    assert spans.one("phase after").status.status_code is StatusCode.UNSET
    run_span = spans.one("run Order")
    assert run_span.status.status_code is StatusCode.ERROR
    assert run_span.status.description == "1 handler(s) failed"
    assert _attributes(run_span)["ted.run.failures"] == 1


def test_aborted_run(spans: Spans) -> None:
    """A run that aborts on a failure is ERROR, and has no span for the phases it skipped."""
    recorder = Recorder()
    dispatcher, _ = started("kind", on_handler_error="abort")
    add(dispatcher, recorder.failing("check", KeyError("sku")), "before")
    add(dispatcher, recorder.sync("ship"), "during")
    instrument(dispatcher, tracer_provider=spans.provider)
    result_of(fire(dispatcher, Order()))
    run_span = spans.one("run Order")
    assert _attributes(run_span)["ted.run.status"] == "aborted"
    assert run_span.status.status_code is StatusCode.ERROR
    assert run_span.status.description == "aborted after 1 failure(s)"
    assert [span.name for span in spans.children(run_span)] == ["phase before"]
    assert _exception(spans.one("handler support.check"))["exception.type"] == "KeyError"


class _Unspeakable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_an_exception_that_cannot_be_shown_is_recorded_by_its_type() -> None:
    """An exception whose str and repr raise is recorded by its type, without raising."""
    failure = Failure(_Unspeakable())
    attributes = exception_attributes(failure, 100)
    assert attributes["exception.type"] == f"{__name__}._Unspeakable"
    assert attributes["exception.message"] == "<unprintable _Unspeakable object>"
    assert attributes["exception.stacktrace"].endswith("_Unspeakable: <exception str() failed>")


def test_a_handler_raising_such_an_exception_breaks_no_run(spans: Spans) -> None:
    """A handler raising an exception that cannot be shown fails alone, and is recorded."""
    recorder = Recorder()
    dispatcher, _ = started("kind")
    add(dispatcher, recorder.failing("h", _Unspeakable()), "during")
    add(dispatcher, recorder.sync("after"), "after")
    instrument(dispatcher, tracer_provider=spans.provider)
    run = result_of(fire(dispatcher, Order()))
    assert [outcome.status for outcome in run.outcomes] == ["failed", "succeeded"]
    handler = spans.one("handler support.h")
    assert handler.status.status_code is StatusCode.ERROR
    assert _exception(handler)["exception.message"] == "<unprintable _Unspeakable object>"


def test_long_exception_messages_and_tracebacks_are_bounded() -> None:
    """An exception's message is cut to the value limit and its stack trace to 16 times that."""

    def recurse(depth: int) -> None:
        if depth:
            recurse(depth - 1)
        raise ValueError("m" * 1000)

    try:
        recurse(200)
    except ValueError:
        failure = Failure()
    attributes = exception_attributes(failure, 50)
    assert attributes["exception.message"] == "m" * 50 + "… (950 more characters)"
    assert len(attributes["exception.stacktrace"]) < 50 * 16 + 40
    assert attributes["exception.type"] == "ValueError"


def test_pending_results_and_clock_timestamps(spans: Spans) -> None:
    """Spans start and end at the dispatcher's clock readings; a pending call spans its wait."""
    dispatcher, clock = dispatcher_on_clock(("kind",))
    clock.advance(1000)

    def reserve(event: object) -> Deferred[None]:
        return task.deferLater(clock, 2.5)

    def fired(event: object) -> Deferred[str]:
        return succeed("fired already")

    add(dispatcher, reserve, "during")
    add(dispatcher, fired, "after")
    instrument(dispatcher, tracer_provider=spans.provider)
    run = fire_and_settle(dispatcher, Order())
    second = 1_000_000_000
    run_span = spans.one("run Order")
    handler = spans.ending(".reserve")
    assert (run_span.start_time, run_span.end_time) == (1000 * second, 1002.5 * second)
    assert (handler.start_time, handler.end_time) == (1000 * second, 1002.5 * second)
    assert handler.end_time is not None
    assert handler.start_time is not None
    assert handler.end_time - handler.start_time == run.outcomes[0].duration * second
    during, after = spans.named("phase during"), spans.named("phase after")
    assert (during[0].start_time, during[0].end_time) == (1000 * second, 1002.5 * second)
    assert (after[0].start_time, after[0].end_time) == (1002.5 * second, 1002.5 * second)
    assert _attributes(spans.children(after[0])[0])["ted.handler.status"] == "succeeded"


def test_failed_and_timed_out_results(spans: Spans) -> None:
    """A Deferred that fails, or times out, is recorded as the handler's exception."""
    dispatcher, clock = dispatcher_on_clock(("kind",), handler_timeout=5)

    def failed(event: object) -> Deferred[None]:
        return fail(OSError("disk full"))

    def stuck(event: object) -> Deferred[None]:
        return Deferred()

    add(dispatcher, failed, "during")
    add(dispatcher, stuck, "during")
    instrument(dispatcher, tracer_provider=spans.provider)
    run = fire_and_settle(dispatcher, Order())
    assert [outcome.status for outcome in run.outcomes] == ["failed", "timed_out"]
    failed_span, stuck_span = spans.children(spans.one("phase during"))
    assert _exception(failed_span)["exception.type"] == "OSError"
    assert _attributes(stuck_span)["ted.handler.status"] == "timed_out"
    assert stuck_span.status.status_code is StatusCode.ERROR
    assert _exception(stuck_span)["exception.type"] == (
        f"{HandlerTimedOut.__module__}.HandlerTimedOut"
    )
    assert stuck_span.end_time == 5 * 1_000_000_000
    assert clock.seconds() == 5


def test_cancelled_run(spans: Spans) -> None:
    """Cancelling a run ends its pending handler spans as cancelled, without an error status."""
    dispatcher, _ = started("kind")
    recorder = Recorder()
    add(dispatcher, recorder.deferred("slow"), "during")
    instrument(dispatcher, tracer_provider=spans.provider)
    running = fire(dispatcher, Order())
    assert spans.named("handler support.slow") == []
    running.cancel()
    assert result_of(running).status == "cancelled"
    handler = spans.one("handler support.slow")
    assert _attributes(handler)["ted.handler.status"] == "cancelled"
    assert handler.status.status_code is StatusCode.UNSET
    run_span = spans.one("run Order")
    assert _attributes(run_span)["ted.run.status"] == "cancelled"
    assert run_span.status.status_code is StatusCode.UNSET


def test_a_run_cancelled_by_its_own_handler(spans: Spans) -> None:
    """A handler cancelling its own run leaves no span open: the pending call ends cancelled."""
    dispatcher, _ = started("kind", when_stopped="queue", start=False)
    recorder = Recorder()
    runs: list[Deferred[Any]] = []
    add(dispatcher, recorder.deferred("slow"), "during")

    def cancel(event: object) -> None:
        runs[0].cancel()

    add(dispatcher, cancel, "during")
    add(dispatcher, recorder.sync("never"), "during")
    instrument(dispatcher, tracer_provider=spans.provider)
    runs.append(fire(dispatcher, Order()))
    dispatcher.start()
    assert result_of(runs[0]).status == "cancelled"
    names = [span.name for span in spans.children(spans.one("phase during"))]
    assert len(names) == 2
    assert "handler support.never" not in names
    assert _attributes(spans.one("handler support.slow"))["ted.handler.status"] == "cancelled"
    assert _attributes(spans.one("run Order"))["ted.run.status"] == "cancelled"


def test_child_runs_are_children_of_the_firing_handler(spans: Spans) -> None:
    """A run fired from a handler, or from its coroutine after an await, is the handler's child."""
    recorder = Recorder()
    dispatcher, clock = dispatcher_on_clock(("kind",))

    def place(event: object) -> None:
        dispatcher.fire_event("audit", kind="audit")

    async def receipt(event: object) -> None:
        await task.deferLater(clock, 1)
        await dispatcher.fire_event({"to": "ann"}, kind="mail")

    @inlineCallbacks
    def invoice(event: object) -> Generator[Deferred[Any], Any, None]:
        yield task.deferLater(clock, 2)
        yield dispatcher.fire_event(3, kind="bill")

    add(dispatcher, place, "during", kind="order")
    add(dispatcher, receipt, "after", kind="order")
    add(dispatcher, invoice, "after", kind="order")
    for kind in ("audit", "mail", "bill"):
        add(dispatcher, recorder.sync(kind), "during", kind=kind)
    instrument(dispatcher, tracer_provider=spans.provider)
    run = fire_and_settle(dispatcher, Order(), kind="order")
    handlers = {span.name.rsplit(".", 1)[-1]: span for span in spans.all()}
    for child, parent in (("run str", "place"), ("run dict", "receipt"), ("run int", "invoice")):
        child_span = spans.one(child)
        assert is_child(child_span, handlers[parent]), (child, parent)
        assert _attributes(child_span)["ted.run.parent_id"] == run.run_id
    assert spans.one("run int").start_time == 2 * 1_000_000_000


def test_spans_started_by_a_handler_are_its_children(spans: Spans) -> None:
    """Code in a handler that starts a span of its own starts it under the handler's span."""
    dispatcher, _ = started("kind")
    tracer = spans.provider.get_tracer("app")

    def query(event: object) -> None:
        with tracer.start_as_current_span("SELECT"):
            pass

    add(dispatcher, query, "during")
    instrument(dispatcher, tracer_provider=spans.provider)
    result_of(fire(dispatcher, Order()))
    handler = next(span for span in spans.all() if span.name.startswith("handler"))
    assert is_child(spans.one("SELECT"), handler)
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_run_fired_inside_an_application_span_is_its_child(spans: Spans) -> None:
    """A run fired while the application has a span current (a web request's) is its child."""
    recorder = Recorder()
    dispatcher, _ = started("kind")
    add(dispatcher, recorder.sync("h"), "during")
    instrument(dispatcher, tracer_provider=spans.provider)
    with spans.provider.get_tracer("web").start_as_current_span("GET /order"):
        result_of(fire(dispatcher, Order()))
    assert is_child(spans.one("run Order"), spans.one("GET /order"))


def test_a_remote_run_is_a_child_of_its_trace_context(spans: Spans) -> None:
    """A run fired for another process is a consumer span under its origin's trace context."""
    recorder = Recorder()
    dispatcher, _ = started("kind")
    add(dispatcher, recorder.sync("h"), "during")
    instrument(dispatcher, tracer_provider=spans.provider)
    trace_id, span_id = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    origin = RunOrigin(
        "node-a",
        run_id="a-7",
        handler_name="shop.place",
        trace_context=(("traceparent", f"00-{trace_id:032x}-{span_id:016x}-01"),),
    )
    with spans.provider.get_tracer("local").start_as_current_span("unrelated"):
        result_of(dispatcher.fire_event_from(origin, Order()))
        result_of(dispatcher.fire_event_from(RunOrigin("node-b"), Order()))
    remote, untraced = spans.named("run Order")
    assert remote.kind is SpanKind.CONSUMER
    assert remote.parent is not None
    assert remote.parent.is_remote
    assert (remote.parent.trace_id, remote.parent.span_id) == (trace_id, span_id)
    assert _attributes(remote)["ted.origin.node"] == "node-a"
    assert _attributes(remote)["ted.origin.run_id"] == "a-7"
    assert _attributes(remote)["ted.origin.handler_name"] == "shop.place"
    assert _attributes(remote)["ted.run.parent_id"] == "a-7"
    assert untraced.parent is None
    assert "ted.origin.run_id" not in _attributes(untraced)


def test_rejected_and_dropped_runs(spans: Spans) -> None:
    """A run refused before it starts is ERROR with its exception; a dropped one is not."""
    refusing = EventDispatcher(("kind",), when_stopped="error", reactor=task.Clock())
    dropping = EventDispatcher(("kind",), reactor=task.Clock())
    instrument(refusing, tracer_provider=spans.provider)
    instrument(dropping, tracer_provider=spans.provider)
    failure = fire(refusing, Order())
    with pytest.raises(DispatcherNotRunning):
        result_of(failure)
    assert result_of(fire(dropping, Order())).status == "dropped"
    rejected, dropped = spans.named("run Order")
    assert _attributes(rejected)["ted.run.status"] == "rejected"
    assert rejected.status.status_code is StatusCode.ERROR
    assert _exception(rejected)["exception.type"] == (
        "twisted_event_dispatcher.exceptions.DispatcherNotRunning"
    )
    assert _attributes(dropped)["ted.run.status"] == "dropped"
    assert dropped.status.status_code is StatusCode.UNSET


def test_a_full_queue_rejects(spans: Spans) -> None:
    """A run refused because the queue is full is recorded with QueueFull."""
    dispatcher, _ = started("kind", max_queued=1)
    recorder = Recorder()
    add(dispatcher, recorder.deferred("slow"), "during", kind="a")
    instrument(dispatcher, tracer_provider=spans.provider)
    fire(dispatcher, Order(), kind="a")
    fire(dispatcher, Order(), kind="b")
    with pytest.raises(QueueFull):
        result_of(fire(dispatcher, Order(), kind="b"))
    [rejected] = [s for s in spans.named("run Order") if s.status.status_code is StatusCode.ERROR]
    assert _exception(rejected)["exception.type"].endswith("QueueFull")


def test_uninstrument(spans: Spans) -> None:
    """After uninstrument(), new runs make no spans; a run in flight keeps its spans to its end."""
    dispatcher, _ = started("kind")
    recorder = Recorder()
    add(dispatcher, recorder.deferred("slow"), "during")
    with instrument(dispatcher, tracer_provider=spans.provider) as instrumentation:
        active_inside = instrumentation.active
        assert "active" in repr(instrumentation)
        in_flight = fire(dispatcher, Order())
    assert active_inside
    assert not instrumentation.active
    assert "removed" in repr(instrumentation)
    instrumentation.uninstrument()
    fire(dispatcher, "later")
    recorder.pending["slow"][0].callback(None)
    assert result_of(in_flight).status == "completed"
    assert [span.name for span in spans.all() if span.name.startswith("run")] == ["run Order"]
    assert _attributes(spans.one("handler support.slow"))["ted.handler.status"] == "succeeded"
    again = instrument(dispatcher, tracer_provider=spans.provider)
    assert again.dispatcher is dispatcher


def test_the_global_tracer_provider_is_the_default(spans: Spans) -> None:
    """Without a tracer provider, spans go to OpenTelemetry's global one."""
    recorder = Recorder()
    dispatcher, _ = started("kind")
    add(dispatcher, recorder.sync("h"), "during")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trace, "get_tracer_provider", lambda: spans.provider)
        instrument(dispatcher)
    result_of(fire(dispatcher, Order()))
    assert len(spans.named("run Order")) == 1


def test_not_instrumented_makes_no_spans(spans: Spans) -> None:
    """A dispatcher never instrumented makes no span, whatever tracer provider exists."""
    recorder = Recorder()
    dispatcher, _ = started("kind")
    add(dispatcher, recorder.sync("h"), "during")
    with (
        pytest.MonkeyPatch.context() as patch,
        spans.provider.get_tracer("web").start_as_current_span("request"),
    ):
        patch.setattr(trace, "get_tracer_provider", lambda: spans.provider)
        result_of(fire(dispatcher, Order()))
    assert [span.name for span in spans.all()] == ["request"]


def test_bad_arguments(spans: Spans) -> None:
    """Anything but a dispatcher, a bad limit, or instrumenting twice is refused, saying why."""
    dispatcher, _ = started("kind")

    class Node:
        def __init__(self) -> None:
            self.dispatcher = dispatcher

    with pytest.raises(TypeError, match=r"takes an EventDispatcher; got 'x'$"):
        instrument("x")  # type: ignore[arg-type]

    class Broken:
        @property
        def dispatcher(self) -> EventDispatcher:
            raise RuntimeError("no dispatcher")

    with pytest.raises(TypeError, match=r"instrument\(node\.dispatcher\)"):
        instrument(Node())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got <.*Broken object at .*>$"):
        instrument(Broken())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"max_value_length must be a whole number.*got True"):
        instrument(dispatcher, max_value_length=True)
    with pytest.raises(ValueError, match="max_value_length must be >= 1; got 0"):
        instrument(dispatcher, max_value_length=0)
    first = instrument(dispatcher, tracer_provider=spans.provider)
    assert isinstance(first, Instrumentation)
    with pytest.raises(ValueError, match="is instrumented already"):
        instrument(dispatcher, tracer_provider=spans.provider)


def test_without_opentelemetry_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the package without OpenTelemetry says which extra to install."""
    for name in [name for name in sys.modules if name.startswith("twisted_event_dispatcher.otel")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ModuleNotFoundError, match=r"\[otel\]") as info:
        __import__("twisted_event_dispatcher.otel")
    assert info.value.name == "opentelemetry"
    assert str(info.value) == PACKAGE_HINT


def test_every_attribute_is_documented() -> None:
    """The how-to's attribute table names every attribute the spans carry."""
    howto = Path(__file__).resolve().parents[2] / "docs" / "howto" / "opentelemetry.md"
    text = howto.read_text(encoding="utf-8")
    for name in ATTRIBUTES:
        assert f"| `{name}` |" in text, name

"""``instrument``: one span per run, a child span per phase and per handler call."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Final, cast, final

from twisted_event_dispatcher._safe import safe_repr
from twisted_event_dispatcher.otel._attributes import (
    DEFAULT_VALUE_LIMIT,
    DETAIL_PREFIX,
    EVENT_TYPE,
    HANDLER_CALL,
    HANDLER_ID,
    HANDLER_NAME,
    HANDLER_STATUS,
    ORIGIN_HANDLER,
    ORIGIN_NODE,
    ORIGIN_RUN_ID,
    PACKAGE_HINT,
    PARENT_RUN_ID,
    PHASE,
    PHASE_FAILED,
    RUN_FAILURES,
    RUN_HANDLERS,
    RUN_ID,
    RUN_STATUS,
    attribute_value,
    exception_attributes,
)
from twisted_event_dispatcher.runtime._dispatcher import EventDispatcher
from twisted_event_dispatcher.runtime._observe import observer_of, set_observer

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.context import Context
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as error:
    raise ModuleNotFoundError(PACKAGE_HINT, name="opentelemetry") from error

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.trace import Span, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue
    from twisted.python.failure import Failure

    from twisted_event_dispatcher.machines._run import RunCore
    from twisted_event_dispatcher.runtime._records import EventRun, HandlerOutcome
    from twisted_event_dispatcher.runtime._registry import Registration

__all__ = ["TRACER_NAME", "Instrumentation", "instrument"]

TRACER_NAME: Final = "twisted_event_dispatcher"
"""The instrumentation scope name of every span (what ``get_tracer`` is given)."""

_FAILED: Final = frozenset({"failed", "timed_out"})
_MAX_HEADER_TEXT: Final = 1000
"""Characters of one received trace-context header passed on (W3C allows 512 for tracestate)."""


def _ns(seconds: float) -> int:
    """Return a clock reading in seconds as OpenTelemetry's nanoseconds."""
    return int(seconds * 1_000_000_000)


def _version() -> str:
    from twisted_event_dispatcher import __version__

    return __version__


@final
class _Observer:
    """The dispatcher's :class:`~twisted_event_dispatcher.runtime._observe.RunObserver`."""

    __slots__ = ("limit", "tracer")

    def __init__(self, tracer: Tracer, limit: int) -> None:
        self.tracer: Final = tracer
        self.limit: Final = limit

    def observe_run(self, run: RunCore) -> _RunSpans:
        return _RunSpans(self, run)

    def outgoing_trace_headers(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier

    def incoming_trace_context(self, headers: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
        pairs = []
        for name in sorted(propagate.get_global_textmap().fields):
            value = headers.get(name)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                pairs.append((name, value[:_MAX_HEADER_TEXT]))
        return tuple(pairs)


@final
class _RunSpans:
    """One run's :class:`~twisted_event_dispatcher.runtime._observe.RunObservation`: its spans."""

    __slots__ = (
        "_context",
        "_handlers",
        "_limit",
        "_phase",
        "_phase_context",
        "_phase_failed",
        "_run_id",
        "_seconds",
        "_span",
        "_tracer",
    )

    def __init__(self, observer: _Observer, run: RunCore) -> None:
        self._tracer: Final = observer.tracer
        limit = observer.limit
        self._limit: Final = limit
        self._seconds: Final = run.host.clock.seconds
        self._run_id: Final = run.run_id
        attributes: dict[str, AttributeValue] = {
            RUN_ID: run.run_id,
            EVENT_TYPE: type(run.event).__qualname__,
        }
        parent_run_id = run.parent_run_id
        if parent_run_id is not None:
            attributes[PARENT_RUN_ID] = parent_run_id
        for key, value in run.details.items():
            attributes[DETAIL_PREFIX + key] = attribute_value(value, limit)
        origin = run.origin
        if origin is None:
            # The current context: inside a handler, that handler's span.
            parent = otel_context.get_current()
            kind = SpanKind.INTERNAL
        else:
            # Another process's run: a child of the span its trace context names, and
            # of nothing here (as its parent_run_id is the run there, not one here).
            parent = propagate.extract(dict(origin.trace_context), context=Context())
            kind = SpanKind.CONSUMER
            attributes[ORIGIN_NODE] = origin.node
            if origin.run_id is not None:
                attributes[ORIGIN_RUN_ID] = origin.run_id
            if origin.handler_name is not None:
                attributes[ORIGIN_HANDLER] = origin.handler_name
        self._span: Final = self._tracer.start_span(
            f"run {type(run.event).__qualname__}",
            context=parent,
            kind=kind,
            attributes=attributes,
            start_time=_ns(run.fired_at),
        )
        self._context: Final = trace.set_span_in_context(self._span, parent)
        self._phase: Span | None = None
        self._phase_context: Context = self._context
        self._phase_failed = False
        self._handlers: dict[int, tuple[Span, float]] = {}

    def _end_phase(self, now: int) -> None:
        phase = self._phase
        if phase is None:
            return
        self._phase = None
        phase.set_attribute(PHASE_FAILED, self._phase_failed)
        if self._phase_failed:
            phase.set_status(Status(StatusCode.ERROR, "a handler failed or timed out"))
        phase.end(now)

    def phase_entered(self, phase: str) -> None:
        now = _ns(self._seconds())
        self._end_phase(now)
        self._phase_failed = False
        self._phase = span = self._tracer.start_span(
            f"phase {phase}",
            context=self._context,
            attributes={RUN_ID: self._run_id, PHASE: phase},
            start_time=now,
        )
        self._phase_context = trace.set_span_in_context(span, self._context)

    def handler_calling(self, reg: Registration, started: float) -> object:
        span = self._tracer.start_span(
            f"handler {reg.name}",
            context=self._phase_context,
            attributes={
                RUN_ID: self._run_id,
                PHASE: reg.phase,
                HANDLER_ID: reg.handler_id,
                HANDLER_NAME: reg.name,
                HANDLER_CALL: reg.calls,
            },
            start_time=_ns(started),
        )
        self._handlers[reg.handler_id] = (span, started)
        # The handler's span is current while it runs, and in the coroutines and
        # inlineCallbacks generators it starts (Twisted copies the context into them):
        # a run fired there, a span started there, or a message sent to another
        # node from there is its child.
        return otel_context.attach(trace.set_span_in_context(span, self._phase_context))

    def handler_returned(self, token: object) -> None:
        otel_context.detach(cast("Token[Context]", token))

    def handler_settled(self, outcome: HandlerOutcome) -> None:
        # Every call that began settles once (see RunObservation.handler_settled).
        span, started = self._handlers.pop(outcome.handler_id)
        status = outcome.status
        span.set_attribute(HANDLER_STATUS, status)
        failure = outcome.failure
        if status in _FAILED and failure is not None:
            self._phase_failed = True
            attributes = exception_attributes(failure, self._limit)
            end = _ns(started + outcome.duration)
            span.add_event("exception", attributes, timestamp=end)
            span.set_status(
                Status(
                    StatusCode.ERROR,
                    f"{attributes['exception.type']}: {attributes['exception.message']}",
                )
            )
        span.end(_ns(started + outcome.duration))

    def run_ended(self, result: EventRun) -> None:
        now = _ns(self._seconds())
        # Every handler span has ended: a call still pending when the run is
        # cancelled settles as cancelled before the run ends.
        self._end_phase(now)
        span = self._span
        failures = len(result.failures)
        span.set_attributes(
            {
                RUN_STATUS: result.status,
                RUN_HANDLERS: len(result.outcomes),
                RUN_FAILURES: failures,
            }
        )
        if result.status == "aborted":
            span.set_status(Status(StatusCode.ERROR, f"aborted after {failures} failure(s)"))
        elif failures:
            span.set_status(Status(StatusCode.ERROR, f"{failures} handler(s) failed"))
        span.end(now)

    def run_rejected(self, failure: Failure) -> Failure:
        now = _ns(self._seconds())
        span = self._span
        attributes = exception_attributes(failure, self._limit)
        span.set_attribute(RUN_STATUS, "rejected")
        span.add_event("exception", attributes, timestamp=now)
        span.set_status(
            Status(
                StatusCode.ERROR,
                f"{attributes['exception.type']}: {attributes['exception.message']}",
            )
        )
        span.end(now)
        return failure


@final
class Instrumentation:
    """What :func:`instrument` returns: the dispatcher it instruments, and how to stop.

    It is also a context manager that calls :meth:`uninstrument` on exit.

    .. versionadded:: 1.1
    """

    def __init__(self, dispatcher: EventDispatcher, observer: _Observer) -> None:
        self.dispatcher: Final = dispatcher
        """The instrumented dispatcher."""
        self._observer: Final = observer

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        return f"<Instrumentation {state} of {self.dispatcher!r}>"

    @property
    def active(self) -> bool:
        """Whether runs created now get spans from this instrumentation."""
        return observer_of(self.dispatcher) is self._observer

    def uninstrument(self) -> None:
        """Stop making spans for runs created from now on.

        Runs in flight keep theirs to their end.  Calling it twice changes nothing.
        """
        if self.active:
            set_observer(self.dispatcher, None)

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.uninstrument()


def _dispatcher_of(target: object) -> EventDispatcher:
    if isinstance(target, EventDispatcher):
        return target
    try:
        node = isinstance(getattr(target, "dispatcher", None), EventDispatcher)
    except Exception:  # noqa: BLE001 -- a property of the caller's object failed
        node = False
    hint = "; for a cluster node, pass its dispatcher: instrument(node.dispatcher)" if node else ""
    raise TypeError(f"instrument() takes an EventDispatcher; got {safe_repr(target)}{hint}")


def instrument(
    dispatcher: EventDispatcher,
    *,
    tracer_provider: TracerProvider | None = None,
    max_value_length: int = DEFAULT_VALUE_LIMIT,
) -> Instrumentation:
    """Make OpenTelemetry spans of *dispatcher*'s runs, from now on, until uninstrumented.

    Each run gets a span (``run <event type>``), with a child span per phase
    it enters (``phase <name>``) and, under that, one per handler call
    (``handler <qualified name>``).  The handler's span is the current span
    while the handler runs (and in the coroutines and ``inlineCallbacks``
    generators it starts), so a run the handler fires is its child, and so is
    any span the handler's own code starts.  A run fired by another process
    (:meth:`~twisted_event_dispatcher.EventDispatcher.fire_event_from`) is a
    child of the span its origin's
    :attr:`~twisted_event_dispatcher.RunOrigin.trace_context` names.

    Spans carry the run id, the event's type and details, the phase and the
    handler as attributes (``ted.*``; values cut to *max_value_length*
    characters).  A failed or timed-out handler call records its exception
    as an ``exception`` span event and sets the span's status to ERROR, as
    does its phase and its run; a rejected run (``when_stopped="error"``,
    ``max_queued``) likewise.  Timestamps are read off the dispatcher's
    reactor clock, so durations agree with
    :attr:`~twisted_event_dispatcher.HandlerOutcome.duration`.

    Args:
        dispatcher: The dispatcher to instrument (for a cluster node, its
            ``dispatcher``).
        tracer_provider: Where spans go; None for OpenTelemetry's global
            tracer provider (as set by ``trace.set_tracer_provider``, looked
            up when each span starts).
        max_value_length: Characters of one attribute value (a detail's repr,
            an exception message) kept; an exception's stack trace keeps up
            to 16 times that.

    Returns:
        The handle whose :meth:`~Instrumentation.uninstrument` stops it.

    Raises:
        TypeError: *dispatcher* is not an EventDispatcher, or
            *max_value_length* is not an int.
        ValueError: *max_value_length* is below 1, or the dispatcher is
            instrumented already.

    .. versionadded:: 1.1
    """
    target = _dispatcher_of(dispatcher)
    if isinstance(max_value_length, bool) or not isinstance(max_value_length, int):
        raise TypeError(
            f"max_value_length must be a whole number of characters; got {max_value_length!r}"
        )
    if max_value_length < 1:
        raise ValueError(f"max_value_length must be >= 1; got {max_value_length!r}")
    tracer = trace.get_tracer(TRACER_NAME, _version(), tracer_provider=tracer_provider)
    observer = _Observer(tracer, max_value_length)
    set_observer(target, observer)
    return Instrumentation(target, observer)

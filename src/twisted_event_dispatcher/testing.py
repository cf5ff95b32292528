"""Helpers for testing the handlers of your own application.

Three tools, usable from pytest, trial or doctests:

- :func:`dispatcher_on_clock` builds a dispatcher driven by a
  :class:`twisted.internet.task.Clock`, so nothing depends on a real reactor
  or on wall-clock time, and :func:`fire_and_settle` fires an event and
  advances that clock until the run has ended.
- :func:`capture_trace`, like structlog's :func:`~structlog.testing.capture_logs`,
  records every trace record the dispatcher emits while it is active (debug
  records included, whatever structlog's configuration), as plain dicts.
- :class:`Trace` answers the usual questions about those records: which
  runs there were, which handlers ran for which event, in which phase, and
  how each call ended (:class:`CallRecord`).

>>> from twisted_event_dispatcher.testing import capture_trace, dispatcher_on_clock
>>> from twisted_event_dispatcher.testing import fire_and_settle, result_of
>>> dispatcher, clock = dispatcher_on_clock(("event_type",))
>>> def validate(event):
...     return None
>>> handler_id = result_of(
...     dispatcher.add_event_handler(validate, "before", event_type="user_created"))
>>> with capture_trace() as trace:
...     run = fire_and_settle(dispatcher, "bob", event_type="user_created")
>>> run.status
'completed'
>>> [(call.phase, call.handler_name.rsplit(".", 1)[-1], call.status) for call in trace.calls()]
[('before', 'validate', 'succeeded')]

.. versionadded:: 1.0
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar, cast, final

import structlog
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from twisted_event_dispatcher.runtime._dispatcher import DEFAULT_PHASES, EventDispatcher
from twisted_event_dispatcher.runtime._records import EventRun
from twisted_event_dispatcher.tracing._logger import set_tracer

__all__ = [
    "CallRecord",
    "Trace",
    "advance_until_fired",
    "assert_run_completed",
    "capture_trace",
    "dispatcher_on_clock",
    "fire_and_settle",
    "result_of",
]

_T = TypeVar("_T")


def _keep(result: object, results: list[object]) -> object:
    """Record *result*; pass a success on to later callbacks, consume a failure (it is raised)."""
    results.append(result)
    return None if isinstance(result, Failure) else result


def dispatcher_on_clock(
    allowed_match_spec_keywords: Sequence[str],
    phases: Sequence[str] = DEFAULT_PHASES,
    *,
    start: bool = True,
    **options: Any,
) -> tuple[EventDispatcher, Clock]:
    """Return a dispatcher driven by a fresh :class:`~twisted.internet.task.Clock`, and the clock.

    Every call on it is synchronous; time passes only when the test advances
    the clock, so handler timeouts and delayed results are deterministic.

    Args:
        allowed_match_spec_keywords: As for
            :class:`~twisted_event_dispatcher.EventDispatcher`.
        phases: As for :class:`~twisted_event_dispatcher.EventDispatcher`.
        start: Start the dispatcher before returning it.
        **options: Any other keyword argument of
            :class:`~twisted_event_dispatcher.EventDispatcher` (but not
            ``reactor``).

    .. versionadded:: 1.0
    """
    if "reactor" in options:
        raise TypeError("dispatcher_on_clock makes its own Clock; do not pass reactor=")
    clock = Clock()
    dispatcher = EventDispatcher(allowed_match_spec_keywords, phases, reactor=clock, **options)
    if start:
        dispatcher.start()
    return dispatcher, clock


def advance_until_fired(clock: Clock, deferred: Deferred[_T], *, limit: float = 3600.0) -> _T:
    """Advance *clock* from one scheduled call to the next until *deferred* has fired.

    Args:
        clock: The clock the code under test schedules its calls on.
        deferred: The Deferred to wait for.
        limit: The most seconds of clock time to advance.

    Returns:
        The result *deferred* fired with.

    Raises:
        AssertionError: *deferred* has not fired once nothing is scheduled
            any more (it waits for something the clock does not drive: a
            Deferred your test must fire), or within *limit* seconds.
        Exception: The exception *deferred* failed with.

    .. versionadded:: 1.0
    """
    results: list[object] = []
    deferred.addBoth(_keep, results)
    deadline = clock.seconds() + limit
    while not results:
        pending = [call.getTime() for call in clock.getDelayedCalls() if call.active()]
        if not pending:
            raise AssertionError(
                f"{deferred!r} has not fired and nothing is scheduled on the clock: it waits "
                "for something else (a Deferred the test has to fire?)"
            )
        next_time = min(pending)
        if next_time > deadline:
            raise AssertionError(f"{deferred!r} has not fired within {limit} seconds")
        clock.advance(max(0.0, next_time - clock.seconds()))
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[return-value]  # what the Deferred fired with


def result_of(deferred: Deferred[_T]) -> _T:
    """Return the result of a Deferred that has fired already, or raise its exception.

    For the Deferreds a dispatcher on a Clock fires at once: the handler id
    from :meth:`~twisted_event_dispatcher.EventDispatcher.add_event_handler`,
    a run whose handlers are all synchronous.

    A success stays the Deferred's result; a failure is raised here, and
    consumed.

    Raises:
        AssertionError: *deferred* has not fired yet.
        Exception: The exception *deferred* failed with.

    .. versionadded:: 1.0
    """
    results: list[object] = []
    deferred.addBoth(_keep, results)
    if not results:
        raise AssertionError(f"{deferred!r} has not fired yet")
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[return-value]  # what the Deferred fired with


def fire_and_settle(dispatcher: EventDispatcher, event: Any, /, **details: Any) -> EventRun:
    """Fire *event* on a dispatcher made by :func:`dispatcher_on_clock`; return the ended run.

    The dispatcher's clock is advanced, as in :func:`advance_until_fired`,
    until the run has ended: handler timeouts and ``callLater`` results
    happen in order, in no real time.

    Raises:
        TypeError: The dispatcher is not driven by a
            :class:`~twisted.internet.task.Clock`.
        AssertionError: The run waits for something the clock does not drive.

    .. versionadded:: 1.0
    """
    clock = dispatcher.reactor
    if not isinstance(clock, Clock):
        raise TypeError(
            f"fire_and_settle needs a dispatcher driven by a task.Clock; its reactor is "
            f"{clock!r}: build it with dispatcher_on_clock()"
        )
    return advance_until_fired(clock, dispatcher.fire_event(event, **details))


class CallRecord(NamedTuple):
    """One handler call, as a :class:`Trace` reconstructs it from the records.

    .. versionadded:: 1.0
    """

    run_id: str
    """The run that called the handler."""
    event_type: str | None
    """The qualified type name of the run's event."""
    details: dict[str, str]
    """The run's details, values as their ``repr``."""
    phase: str
    """The phase the handler was called in."""
    handler_name: str
    """The handler's qualified name."""
    status: str | None
    """``succeeded``, ``failed``, ``timed_out`` or ``cancelled``; None while it is pending."""


@final
class Trace:
    """The trace records captured by :func:`capture_trace`, with questions to ask them.

    .. versionadded:: 1.0
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        """Every captured record, in the order it was emitted; ``event`` names it."""

    def __repr__(self) -> str:
        return f"<Trace of {len(self.records)} records>"

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def _capture(self, _logger: object, method_name: str, event_dict: Any) -> Any:
        """A structlog processor: keep the record and drop it from the chain.

        A traceback is kept as text: its frames would keep the handler (and
        its instance) alive for as long as the test holds the trace.
        """
        record = dict(event_dict)
        record.setdefault("log_level", method_name)
        if record.get("exc_info"):
            record = dict(structlog.processors.format_exc_info(_logger, method_name, record))
        self.records.append(record)
        raise structlog.DropEvent

    def named(self, *names: str) -> list[dict[str, Any]]:
        """Return the records whose ``event`` is one of *names*, in order."""
        return [record for record in self.records if record.get("event") in names]

    def run_ids(self) -> list[str]:
        """Return the ids of the runs created while capturing, in creation order."""
        return [record["run_id"] for record in self.named("run_created")]

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        """Return the records about the run *run_id*, in order."""
        return [record for record in self.records if record.get("run_id") == run_id]

    def transitions(self, run_id: str) -> list[tuple[str, str, str]]:
        """Return ``(from_state, input, to_state)`` for each transition of *run_id*'s machine."""
        return [
            (record["from_state"], record["input"], record["to_state"])
            for record in self.of_run(run_id)
            if record.get("event") == "run_transition"
        ]

    def calls(self, run_id: str | None = None) -> list[CallRecord]:
        """Return the handler calls (of one run, or of all), in the order they were made."""
        runs = {record["run_id"]: record for record in self.named("run_created")}
        # A call that settles in place is one handler_settled record (with its
        # call count); a call that waits is handler_called, then handler_settled.
        # Either record follows the runs the call fired (their run_created names
        # it): the first of those holds the call's place.
        calls: list[CallRecord | None] = []
        waiting: dict[tuple[object, object], int] = {}
        placed: dict[tuple[object, object], int] = {}
        for record in self.named("run_created", "handler_called", "handler_settled"):
            event = record["event"]
            if event == "run_created":
                parent = (record.get("parent_run_id"), record.get("parent_handler_id"))
                if (
                    parent[1] is not None
                    and (run_id is None or parent[0] == run_id)
                    and parent not in waiting
                    and parent not in placed
                ):
                    placed[parent] = len(calls)
                    calls.append(None)  # a call of another process's run stays a hole
                continue
            if run_id is not None and record.get("run_id") != run_id:
                continue
            key = (record.get("run_id"), record.get("handler_id"))
            status = record.get("status") if event == "handler_settled" else None
            if event == "handler_settled" and key in waiting:
                index = waiting.pop(key)
                calls[index] = cast("CallRecord", calls[index])._replace(status=status)
                continue
            created = runs.get(record.get("run_id"), {})
            call = CallRecord(
                run_id=record.get("run_id", ""),
                event_type=created.get("event_type"),
                details=dict(created.get("details", {})),
                phase=record["phase"],
                handler_name=record["handler_name"],
                status=status,
            )
            index = placed.pop(key, len(calls))
            if index == len(calls):
                calls.append(call)
            else:
                calls[index] = call
            if event == "handler_called":
                waiting[key] = index
        return [call for call in calls if call is not None]

    def tree(self, run_id: str) -> str | None:
        """Return run *run_id* as ``tedtool trace`` prints it (its tree), or None if not traced.

        .. versionadded:: 1.2
        """
        from twisted_event_dispatcher.tracing import format_tree, read_runs

        lines = b"".join(
            json.dumps(record, default=repr).encode() + b"\n" for record in self.records
        )
        for run in read_runs(io.BytesIO(lines)):
            if run.run_id == run_id:
                return "\n".join(format_tree(run))
        return None

    def statuses(self) -> dict[str, str]:
        """Return how each run that ended while capturing ended, by run id."""
        ended = {record["run_id"]: record["status"] for record in self.named("run_ended")}
        for record in self.named("run_dropped"):
            ended[record["run_id"]] = "dropped"
        return ended


@contextmanager
def capture_trace() -> Iterator[Trace]:
    """Capture every trace record emitted while the ``with`` block runs.

    Like :func:`structlog.testing.capture_logs`, it swaps structlog's
    configuration for one that keeps records (at every level, debug
    included) instead of rendering them, suspends
    :func:`~twisted_event_dispatcher.tracing.configure_tracing` if it is in
    effect, and restores both afterwards.  It is not thread-safe: capture in
    the thread the dispatcher runs in.

    Yields:
        The :class:`Trace` that the records are appended to.

    .. versionadded:: 1.0
    """
    was_configured = structlog.is_configured()
    previous = structlog.get_config()
    trace = Trace()
    tracer = set_tracer(None)
    structlog.configure(
        processors=[trace._capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    try:
        yield trace
    finally:
        if was_configured:
            structlog.configure(**previous)
        else:
            structlog.reset_defaults()
        set_tracer(tracer)


def assert_run_completed(run: EventRun, trace: Trace | None = None) -> None:
    """Assert that *run* completed with no failed or timed-out handler.

    On failure the message shows the run as ``tedtool trace`` prints it, when
    *trace* (from :func:`capture_trace`, or the ``ted_trace`` fixture)
    captured it, or else its outcomes.

    Raises:
        AssertionError: The run did not complete, or a handler failed.

    .. versionadded:: 1.2
    """
    if run.status == "completed" and not run.failures:
        return
    head = f"run {run.run_id} ended {run.status} with {len(run.failures)} failed handler(s)"
    if run.abort_reason is not None:
        head += f" (aborted: {run.abort_reason})"
    tree = None if trace is None else trace.tree(run.run_id)
    if tree is None:
        tree = "\n".join(
            f"  {o.phase}: {o.handler_name} {o.status}"
            + ("" if o.failure is None else f" {o.failure.getErrorMessage()}")
            for o in run.outcomes
        )
    raise AssertionError(f"{head}\n{tree}")

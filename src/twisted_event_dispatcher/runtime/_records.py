"""The read-only records the dispatcher hands out: registrations, outcomes, runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, NamedTuple

import attrs

from twisted_event_dispatcher._safe import safe_repr, type_name
from twisted_event_dispatcher.typing import EventT, HandlerId, OutcomeStatus, RunStatus

if TYPE_CHECKING:
    from twisted.python.failure import Failure

__all__ = [
    "CurrentCall",
    "EventRun",
    "HandlerOutcome",
    "HandlerRegistration",
    "RunInFlight",
    "RunOrigin",
]


@attrs.frozen
class HandlerRegistration:
    """A snapshot of one registered handler, as :meth:`EventDispatcher.handlers` lists it.

    It names the handler rather than holding it, so listing registrations
    never keeps a weakly registered handler alive.

    .. versionadded:: 1.0
    .. versionchanged:: 1.2
       Added :attr:`priority`, :attr:`before` and :attr:`after`.
    """

    handler_id: HandlerId
    """The id :meth:`EventDispatcher.add_event_handler` gave back."""
    phase: str
    """The phase the handler runs in."""
    match_spec: Mapping[str, Any]
    """The keyword=value pairs an event's details must carry; wildcards left out."""
    handler_name: str
    """The handler's qualified name."""
    max_calls: int | None
    """How many calls the handler gets before it is removed; None for no limit."""
    calls: int
    """How many times it has been called so far."""
    weak: bool
    """Whether the dispatcher holds the handler by a weak reference."""
    priority: int = 0
    """Its priority within its phase: higher is called first."""
    before: tuple[HandlerId, ...] = ()
    """The ids it was registered to run before (as given; an id removed since no longer binds)."""
    after: tuple[HandlerId, ...] = ()
    """The ids it was registered to run after (as given; an id removed since no longer binds)."""

    @property
    def id(self) -> HandlerId:
        """Alias of :attr:`handler_id`."""
        return self.handler_id

    @property
    def catch_all(self) -> bool:
        """Whether the handler matches every event (its match spec is empty)."""
        return not self.match_spec


class HandlerOutcome(NamedTuple):
    """How one handler call ended.

    .. versionadded:: 1.0
    .. versionchanged:: 1.1
       Added :attr:`settled_at`.
    """

    handler_id: HandlerId
    """The id of the handler's registration."""
    handler_name: str
    """The handler's qualified name."""
    phase: str
    """The phase it was called in."""
    status: OutcomeStatus
    """``succeeded``, ``failed``, ``timed_out``, ``cancelled``, or ``aborted`` (the handler
    raised :class:`~twisted_event_dispatcher.AbortRun`: a veto, not a failure)."""
    result: Any
    """What the handler returned (or its Deferred or coroutine gave); None unless it succeeded."""
    failure: Failure | None
    """The failure, for ``failed``, ``timed_out``, ``cancelled`` and ``aborted``; else None."""
    duration: float
    """Seconds from the call to the settlement, read off the dispatcher's reactor clock."""
    settled_at: float
    """When the call settled, in seconds of the dispatcher's reactor clock.

    :attr:`EventRun.outcomes` is in call order; sort it by this field for the
    order the calls settled in.
    """


_FAILED_STATUSES = frozenset({"failed", "timed_out"})


def _check_trace_context(_origin: object, _attribute: object, value: object) -> None:
    # Read by the OpenTelemetry instrumentation as header names and values:
    # plain strings only, so nothing of the sender's can run here.
    if type(value) is tuple and all(
        type(pair) is tuple
        and len(pair) == 2  # noqa: PLR2004 -- (name, value)
        and type(pair[0]) is str
        and type(pair[1]) is str
        for pair in value
    ):
        return
    raise TypeError(
        "trace_context must be a tuple of (header name, value) pairs of plain str; "
        f"got {safe_repr(value)} ({type_name(value)})"
    )


@attrs.frozen
class RunOrigin:
    """Where a run fired by :meth:`EventDispatcher.fire_event_from` came from.

    Another process (a node of a :mod:`twisted_event_dispatcher.cluster`) fired
    the event; the run it starts here names the run and handler that fired it
    there, so traces of both processes join into one tree.  Subclasses add
    what their transport knows (the cluster's
    :class:`~twisted_event_dispatcher.cluster.RemoteOrigin` adds the
    message id and whether it was redelivered).

    .. versionadded:: 1.1
    """

    node: str
    """The name of the process (node) that fired the event."""
    run_id: str | None = None
    """The run whose handler fired the event there, or None if no handler did."""
    handler_id: HandlerId | None = None
    """That handler's id in its own process, or None."""
    handler_name: str | None = None
    """That handler's qualified name, or None."""
    trace_context: tuple[tuple[str, str], ...] = attrs.field(
        default=(), kw_only=True, validator=_check_trace_context
    )
    """The trace context that came with the event, as (header name, value) pairs:
    W3C ``traceparent`` and ``tracestate`` for OpenTelemetry's default propagator.
    An instrumented dispatcher (:func:`twisted_event_dispatcher.otel.instrument`)
    makes the run's span a child of the span they name; empty when none came.

    .. versionadded:: 1.1
    """


@attrs.frozen
class CurrentCall:
    """The handler call under way, as :func:`current_call` describes it.

    .. versionadded:: 1.1
    """

    run_id: str
    """The id of the run calling the handler."""
    parent_run_id: str | None
    """The run whose handler fired that run, or None."""
    phase: str
    """The phase the handler was called in."""
    handler_id: HandlerId
    """The id of the handler being called."""
    handler_name: str
    """Its qualified name."""
    details: Mapping[str, Any]
    """The details the run was fired with."""
    origin: RunOrigin | None
    """Where the run came from, when another process fired it."""
    ending: str | None = None
    """While a cleanup phase runs after the run was aborted or cancelled: ``"aborted"`` or
    ``"cancelled"``; None otherwise.

    .. versionadded:: 1.2
    """
    abort_reason: str | None = None
    """The reason of the :class:`~twisted_event_dispatcher.AbortRun` that aborted the run, if any.

    .. versionadded:: 1.2
    """


@attrs.frozen
class EventRun(Generic[EventT]):
    """The result of one :meth:`EventDispatcher.fire_event`: what ran and how it ended.

    Generic in the type of its :attr:`event`, as its dispatcher is:
    ``EventDispatcher[UserEvent].fire_event`` gives ``EventRun[UserEvent]``.

    .. versionadded:: 1.0
    .. versionchanged:: 1.2
       Generic in the event type.
    """

    run_id: str
    """Unique id of this run; log records about it carry it too."""
    parent_run_id: str | None
    """The run whose handler fired this one, or None for a top-level run."""
    event: EventT
    """The event that was fired."""
    details: dict[str, Any]
    """The details it was fired with."""
    status: RunStatus
    """``completed``, ``aborted``, ``cancelled`` or ``dropped``."""
    outcomes: list[HandlerOutcome]
    """One outcome per handler call, in the order the handlers were called.

    That is the order whatever order their results settled in, and whatever
    way the run ended (cancelled, or with handlers timed out); sort by
    :attr:`HandlerOutcome.settled_at` for the settle order.
    """
    origin: RunOrigin | None = None
    """Where the run came from, when another process fired it
    (:meth:`EventDispatcher.fire_event_from`); None for a run fired here.

    .. versionadded:: 1.1
    """
    abort_reason: str | None = None
    """Why a handler aborted the run (the first :class:`~twisted_event_dispatcher.AbortRun`'s
    reason); None unless one did.

    .. versionadded:: 1.2
    """

    @property
    def failures(self) -> list[HandlerOutcome]:
        """The outcomes whose handler failed or timed out."""
        return [o for o in self.outcomes if o.status in _FAILED_STATUSES]


@attrs.frozen
class RunInFlight:
    """A run that has not ended, as :meth:`EventDispatcher.runs_in_flight` lists it.

    It names what the run waits for (never holding handlers or the event), so
    an operator can tell what keeps a dispatcher from stopping.

    .. versionadded:: 1.1
    """

    run_id: str
    """The run's id; log records about it carry it too."""
    parent_run_id: str | None
    """The run whose handler fired this one, or None for a top-level run."""
    event_type: str
    """The qualified name of the fired event's type."""
    phase: str | None
    """The phase the run is in; None while it waits (for its serial turn, or for ``start()``)."""
    pending_handlers: tuple[tuple[HandlerId, str], ...]
    """The ``(handler id, handler name)`` of each call still pending, in call order."""
    age: float
    """Seconds since the run was fired, read off the dispatcher's reactor clock."""

    @property
    def waiting(self) -> bool:
        """Whether the run has not begun yet."""
        return self.phase is None

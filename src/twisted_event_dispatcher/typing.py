"""Public type aliases and protocols of :mod:`twisted_event_dispatcher`.

.. versionadded:: 1.0
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Concatenate, Literal, NewType, ParamSpec, Protocol, TypeAlias

from twisted.internet.defer import Deferred
from typing_extensions import TypeVar

__all__ = [
    "EventT",
    "Handler",
    "HandlerDecorator",
    "HandlerId",
    "HandlerResult",
    "MatchValue",
    "OnHandlerError",
    "Ordering",
    "OutcomeStatus",
    "RunStatus",
    "WhenStopped",
]

HandlerId = NewType("HandlerId", int)
"""The opaque id :meth:`~twisted_event_dispatcher.EventDispatcher.add_event_handler` gives back.

Keep it to remove the handler later; do not compute with it.
"""

HandlerResult: TypeAlias = "Deferred[Any] | Awaitable[Any] | Any"
"""What a handler may return: a plain value, a Deferred, or an awaitable.

Awaitables are coroutines (native, or any other :class:`collections.abc.Coroutine`,
such as Cython's) and objects with ``__await__``; the run waits for them, and
for Deferreds.  What they await must be Deferreds, as in any coroutine Twisted
runs.
"""

EventT = TypeVar("EventT", default=Any)
"""The type of the events a dispatcher fires: ``EventDispatcher[UserEvent]``.

Unparameterised, a dispatcher (and an :class:`~twisted_event_dispatcher.EventRun`)
fires events of any type, as before.

.. versionadded:: 1.2
"""

Handler: TypeAlias = Callable[[EventT], Any]
"""A handler: called with the fired event, returns a :data:`HandlerResult`.

``Handler[UserEvent]`` takes a ``UserEvent``; plain ``Handler`` takes anything.

.. versionchanged:: 1.2
   Generic in the event type.
"""

_P = ParamSpec("_P")
_R = TypeVar("_R")


class HandlerDecorator(Protocol[EventT]):
    """What :meth:`~twisted_event_dispatcher.EventDispatcher.handler` returns.

    It takes a function whose first parameter accepts the dispatcher's event
    type and returns it unchanged, so a type checker flags a handler of the
    wrong event type where it is decorated.

    .. versionadded:: 1.2
    """

    def __call__(
        self, fn: Callable[Concatenate[EventT, _P], _R], /
    ) -> Callable[Concatenate[EventT, _P], _R]:
        """Register *fn* and return it unchanged."""


MatchValue: TypeAlias = Hashable
"""A value in a match spec or in an event's details: anything hashable."""

Ordering: TypeAlias = Literal["serial", "concurrent"]
"""How runs relate to each other: one at a time in fire order, or overlapping."""

WhenStopped: TypeAlias = Literal["drop", "queue", "error"]
"""What :meth:`~twisted_event_dispatcher.EventDispatcher.fire_event` does while stopped."""

OnHandlerError: TypeAlias = Literal["continue", "abort"]
"""Whether a phase with a failed handler lets the remaining phases run."""

RunStatus: TypeAlias = Literal["completed", "aborted", "cancelled", "dropped"]
"""How a run ended."""

OutcomeStatus: TypeAlias = Literal["succeeded", "failed", "timed_out", "cancelled", "aborted"]
"""How one handler call ended (``aborted``: it raised :class:`~twisted_event_dispatcher.AbortRun`).

.. versionchanged:: 1.2
   Added ``aborted``.
"""

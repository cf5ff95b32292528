"""Exceptions raised by :mod:`twisted_event_dispatcher`.

Bad *input* (an unknown phase, a keyword that is not allowed, an unhashable
value) raises :class:`ValueError` or :class:`TypeError` at once, at the call
site.  The exceptions here describe *conditions* and arrive through the
Deferreds the dispatcher returns.
"""

from __future__ import annotations

from twisted.internet.defer import TimeoutError as _DeferredTimeoutError

__all__ = [
    "AbortRun",
    "DispatcherNotRunning",
    "HandlerCollectedWarning",
    "HandlerTimedOut",
    "QueueFull",
    "UnknownHandlerError",
]


class AbortRun(Exception):
    """Raised by a handler (or its Deferred fails with it) to end the run on purpose.

    The run ends as ``aborted`` once the current phase has settled, whatever
    ``on_handler_error`` says; later phases are skipped, except cleanup
    phases (``EventDispatcher(always=...)``).  The call's outcome has status
    ``aborted`` (not a failure), and the first *reason* given is the run's
    :attr:`~twisted_event_dispatcher.EventRun.abort_reason`.

    Args:
        reason: Why the run is aborted; shown in the trace.

    .. versionadded:: 1.2
    """

    def __init__(self, reason: str = "aborted by a handler") -> None:
        super().__init__(reason)
        self.reason: str = str(reason)
        """Why the run is aborted."""


class HandlerCollectedWarning(ResourceWarning):
    """A weakly held handler was collected before it was ever called.

    Handlers are held by weak references unless registered with
    ``use_weakref=False``: an inline ``lambda`` or :func:`functools.partial`
    that nothing else references is collected as soon as
    ``add_event_handler`` returns, and silently never runs.  The dispatcher
    then issues this warning through :mod:`warnings` (besides its
    ``weak_handler_collected_before_first_call`` log record) at the next
    call that notices it (:meth:`~twisted_event_dispatcher.EventDispatcher.fire_event`,
    ``add_event_handler``, ``remove_event_handler``, ``handlers`` or
    ``matching_handlers``), pointing at the caller's line.  Python ignores
    :class:`ResourceWarning` by default; pytest shows it, and under
    ``pytest -W error`` (or ``filterwarnings = ["error"]``) it is raised
    from that call, so a test catches the trap.

    .. versionadded:: 1.2
    """


class UnknownHandlerError(KeyError):
    """No handler is registered under the given id.

    Raised (through the returned Deferred) by
    :meth:`~twisted_event_dispatcher.EventDispatcher.remove_event_handler` for
    an id that never was registered, was removed already, or was removed
    automatically (its weak referent was collected, or it used up its
    ``max_calls``).

    .. versionadded:: 1.0
    """

    def __str__(self) -> str:
        # KeyError quotes its argument with repr(); ours is a sentence.
        return str(self.args[0]) if self.args else ""


class DispatcherNotRunning(RuntimeError):
    """An event was fired while the dispatcher was not running.

    Only raised when the dispatcher was built with ``when_stopped="error"``.

    .. versionadded:: 1.0
    """


class QueueFull(RuntimeError):
    """An event could not be queued because ``max_queued`` runs already wait.

    .. versionadded:: 1.0
    """


class HandlerTimedOut(_DeferredTimeoutError):
    """A handler's result did not settle within its timeout.

    It is the ``failure`` of a :class:`~twisted_event_dispatcher.HandlerOutcome`
    whose status is ``timed_out``.  It subclasses Twisted's
    :class:`twisted.internet.defer.TimeoutError`, so code that traps that
    keeps working.

    .. versionadded:: 1.0
    """

"""The thread boundary: dispatchers are called in their reactor's thread, or hop to it.

A dispatcher's state belongs to the thread its reactor runs in.  The
dispatcher remembers nothing about threads; instead its public mutating
methods ask :func:`reactor_elsewhere` first.  When no reactor runs, or it runs
in the calling thread, the answer costs one thread-id comparison and the call
goes on synchronously.  When the dispatcher's reactor runs in *another* thread
(under crochet, or when the call comes from a thread pool), the method hands
itself to :func:`call_in_reactor_thread`, which runs it in the reactor thread
and blocks the caller until it has returned.

:func:`fire_event_from_thread` is the helper for threads that want the
:class:`~twisted_event_dispatcher.EventRun` itself: it blocks until the run
has ended.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
from queue import Empty, SimpleQueue
from threading import get_ident
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, Protocol, TypeVar, cast

from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from twisted.python import threadable
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from collections.abc import Callable

    from twisted_event_dispatcher.runtime._dispatcher import EventDispatcher
    from twisted_event_dispatcher.runtime._records import EventRun

__all__ = [
    "call_in_reactor_thread",
    "fire_event_from_thread",
    "in_reactor_thread",
    "reactor_elsewhere",
]

_threadable: Any = threadable
"""Twisted declares ``ioThread`` as None; it is the reactor thread's id once a reactor ran."""

_POLL_SECONDS: Final = 0.5
"""How often a thread waiting for the reactor checks that it is still running."""

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")


class HasReactor(Protocol):
    """An object whose methods belong to a reactor's thread."""

    @property
    def _reactor_if_given(self) -> object | None:
        """The reactor it was given, or None for the global one (never looked up here)."""


_S = TypeVar("_S", bound=HasReactor)


def reactor_elsewhere(reactor: object | None) -> IReactorFromThreads | None:
    """Return *reactor* if it is running in a thread other than the caller's, else None.

    Args:
        reactor: The dispatcher's reactor, or None for the global reactor
            (which is looked up only if it is already installed: this check
            never installs a reactor).

    Returns:
        The reactor to hop to, or None when the call may go ahead here: no
        reactor is running, it runs in this thread, or it is not a real
        reactor (a :class:`twisted.internet.task.Clock` in a unit test).
    """
    # Fast path: Twisted records the thread a reactor was last started in.
    # No reactor ever ran (unit tests), or we are in its thread (production).
    io_thread = _threadable.ioThread
    if io_thread is None or io_thread == get_ident():
        return None
    return _running_elsewhere(reactor)


def _running_elsewhere(reactor: object | None) -> IReactorFromThreads | None:
    if reactor is None:
        reactor = sys.modules.get("twisted.internet.reactor")
        if reactor is None:
            return None
    if not (IReactorCore.providedBy(reactor) and IReactorFromThreads.providedBy(reactor)):
        return None  # a Clock, or a fake: it has no thread of its own
    if not cast("IReactorCore", reactor).running:
        return None
    return cast("IReactorFromThreads", reactor)


def call_in_reactor_thread(
    reactor: IReactorFromThreads,
    function: Callable[_P, _R],
    /,
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> _R:
    """Call *function* in *reactor*'s thread, block until it returns, and return its result.

    Unlike :func:`twisted.internet.threads.blockingCallFromThread`, a
    Deferred that *function* returns is handed back as it is, not waited
    for.  An exception it raises is raised here.  The call runs in a copy of
    the caller's :mod:`contextvars` context, so an event fired from a thread
    that a handler started (``deferToThread``) is still that handler's child.

    Do not call it from the reactor thread: it would wait forever.
    """
    outcome: SimpleQueue[tuple[bool, Any]] = SimpleQueue()
    context = contextvars.copy_context()

    def call() -> None:
        try:
            result = context.run(function, *args, **kwargs)
        except BaseException as error:  # noqa: BLE001 -- re-raised in the calling thread
            outcome.put((False, error))
        else:
            outcome.put((True, result))

    reactor.callFromThread(call)
    succeeded, value = _wait(
        reactor, outcome, f"it could run {function.__qualname__} for this thread"
    )
    if succeeded:
        return cast("_R", value)
    raise value


def _wait(reactor: object, outcome: SimpleQueue[_T], what: str) -> _T:
    """Wait for what the reactor thread puts in *outcome*, as long as the reactor runs.

    A reactor that stopped before it got to it never will: rather than block
    this thread for good, raise :class:`RuntimeError` saying that it stopped
    before *what*.
    """
    core = cast("IReactorCore", reactor)
    while core.running:
        with contextlib.suppress(Empty):
            return outcome.get(timeout=_POLL_SECONDS)
    with contextlib.suppress(Empty):  # one last look: it may have come as the reactor stopped
        return outcome.get_nowait()
    raise RuntimeError(f"the reactor stopped before {what}")


def in_reactor_thread(
    method: Callable[Concatenate[_S, _P], _R],
) -> Callable[Concatenate[_S, _P], _R]:
    """Decorate a method so that, called from a foreign thread, it runs in the reactor's.

    In the reactor's thread, or with no reactor running, the method runs in
    place (the check is one thread-id comparison).  Otherwise it runs in the
    reactor thread through :func:`call_in_reactor_thread`, and the caller
    blocks until it has returned.
    """

    @functools.wraps(method)
    def hop(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        reactor = reactor_elsewhere(self._reactor_if_given)
        if reactor is None:
            return method(self, *args, **kwargs)
        return call_in_reactor_thread(reactor, method, self, *args, **kwargs)

    return hop


def fire_event_from_thread(dispatcher: EventDispatcher, event: Any, /, **details: Any) -> EventRun:
    """Fire *event* from a thread that is not the reactor's, and wait for the run to end.

    It is :meth:`~twisted_event_dispatcher.EventDispatcher.fire_event` called
    in the reactor thread: the run happens there, and this thread blocks
    until it has ended, or until the reactor stops.

    Args:
        dispatcher: A dispatcher whose reactor is running in another thread
            (positional only, so that ``dispatcher`` can be a match keyword).
        event: Passed to every matching handler (positional only).
        **details: The keyword=value pairs handlers are matched on.

    Returns:
        The run, once it has ended.

    Raises:
        RuntimeError: It is called in the reactor thread (where it would
            deadlock), the dispatcher's reactor is not running or cannot
            be called from threads (a :class:`~twisted.internet.task.Clock`),
            or the reactor stopped before the run ended.
        Exception: Whatever ``fire_event`` raises or its Deferred fails
            with (:class:`ValueError` for an unknown keyword,
            :class:`~twisted_event_dispatcher.DispatcherNotRunning`, ...).

    .. versionadded:: 1.0
    .. versionchanged:: 1.1
       *dispatcher* and *event* are positional only; a reactor that stops
       while the run is under way raises :class:`RuntimeError` instead of
       blocking the caller for good.
    """
    reactor = dispatcher.reactor
    if not (IReactorCore.providedBy(reactor) and IReactorFromThreads.providedBy(reactor)):
        raise RuntimeError(
            f"fire_event_from_thread needs a dispatcher on a real reactor; {reactor!r} cannot "
            "be called from another thread: call dispatcher.fire_event() directly instead"
        )
    if not cast("IReactorCore", reactor).running:
        raise RuntimeError(
            "fire_event_from_thread needs the dispatcher's reactor to be running in another "
            "thread (crochet.setup(), or a thread started by the reactor); it is not running"
        )
    if _threadable.ioThread == get_ident():
        raise RuntimeError(
            "fire_event_from_thread was called in the reactor thread, where it would wait "
            "forever; call dispatcher.fire_event() and wait for its Deferred instead"
        )
    ended: SimpleQueue[EventRun | Failure] = SimpleQueue()

    def fire() -> None:
        # call_in_reactor_thread runs this in a copy of this thread's context,
        # which keeps a run fired from a handler's worker thread a child of it.
        dispatcher.fire_event(event, **details).addBoth(ended.put)

    call_in_reactor_thread(cast("IReactorFromThreads", reactor), fire)
    result = _wait(reactor, ended, "the run this thread waited for had ended")
    if isinstance(result, Failure):
        result.raiseException()
    return result

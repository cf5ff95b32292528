"""The public :class:`EventDispatcher`: a registry, a lifecycle machine, machines for runs."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import itertools
import math
import operator
import os
import secrets
import sys
import warnings
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from numbers import Real
from pathlib import Path
from types import MappingProxyType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Final,
    Generic,
    Literal,
    ParamSpec,
    TypeVar,
    cast,
    final,
    overload,
)

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_event_dispatcher._safe import safe_repr, safe_str, type_name
from twisted_event_dispatcher.exceptions import (
    DispatcherNotRunning,
    HandlerCollectedWarning,
    QueueFull,
    UnknownHandlerError,
)
from twisted_event_dispatcher.interfaces import IBackgroundUtility, IEventDispatcher
from twisted_event_dispatcher.machines._lifecycle import LifecycleCore, make_lifecycle_machine
from twisted_event_dispatcher.machines._lifecycle import run_ended as lifecycle_run_ended
from twisted_event_dispatcher.machines._lifecycle import submit as lifecycle_submit
from twisted_event_dispatcher.machines._run import CURRENT_CALL, RunCore, make_run_machine, step
from twisted_event_dispatcher.runtime._asyncio import coroutine_runner
from twisted_event_dispatcher.runtime._records import CurrentCall, RunInFlight, RunOrigin
from twisted_event_dispatcher.runtime._registry import (
    RESERVED_KEYWORDS,
    Matches,
    Registration,
    Registry,
)
from twisted_event_dispatcher.runtime._threads import in_reactor_thread
from twisted_event_dispatcher.tracing._logger import get_logger, is_debug_enabled
from twisted_event_dispatcher.typing import EventT

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

    from twisted_event_dispatcher.machines._lifecycle import LifecycleInputs
    from twisted_event_dispatcher.runtime._asyncio import CoroutineRunner
    from twisted_event_dispatcher.runtime._observe import RunObserver
    from twisted_event_dispatcher.runtime._records import EventRun, HandlerRegistration
    from twisted_event_dispatcher.typing import (
        HandlerDecorator,
        HandlerId,
        OnHandlerError,
        Ordering,
        WhenStopped,
    )

__all__ = ["DEFAULT_PHASES", "EventDispatcher", "current_call"]

_MAX_NESTING: Final = 16
"""How many of the dispatcher's loops (actions, deliveries) may nest on the stack.

Each level of a chain of child runs nests one: a handler fires a child, whose
handler fires a child...; and when the deepest run ends, each parent's handler
resumes inside its child's delivery.  Past this depth a child begins, and a
run is delivered, from the innermost loop still below it, once the step under
way has returned; so the stack stays bounded (about 20 frames a level), however
deep the chain, as Twisted's own Deferred chaining does.
"""

_T = TypeVar("_T")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _details_of_current_call() -> dict[str, Any]:
    call = CURRENT_CALL.get()
    assert call is not None  # noqa: S101 -- only called from inside a handler call
    return call[0].details


def _refuse_class_body_method(fn: Callable[..., Any]) -> None:
    """Refuse a function defined in a class body: it would be registered unbound.

    A bound method (``dispatcher.handler(...)(shop.on_order)``) carries its
    instance, and shares its function's qualified name: it is taken.
    """
    if inspect.ismethod(fn):
        return
    qualname = getattr(fn, "__qualname__", "")
    parts = qualname.split(".")
    if len(parts) > 1 and parts[-2] != "<locals>":
        raise TypeError(
            f"@dispatcher.handler cannot register {qualname}: it is defined in a class "
            "body, so it would be called without an instance.  Register the bound method "
            f"per instance instead, e.g. in __init__: "
            f"dispatcher.add_event_handler(self.{parts[-1]}, phase, ...)"
        )


DEFAULT_PHASES: Final = ("before", "during", "after")
"""The phases a dispatcher has unless told otherwise, as Twisted's system events have."""

_ORDERINGS: Final = ("serial", "concurrent")
_HELD_PURGE_MIN: Final = 64
"""The least length of the held runs at which those cancelled while held are forgotten."""
_WARNING_NAMES: Final = 5
"""Handlers a HandlerCollectedWarning names; it counts the rest."""
_WHEN_STOPPED: Final = ("drop", "queue", "error")
_ON_HANDLER_ERROR: Final = ("continue", "abort")


# Validation never trusts the dunders of what it is given: a str subclass may
# break hashing, comparing or len(), so names are read as plain str, and every
# value named in an error message goes through safe_repr.


def _choice(parameter: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or str.__str__(value) not in allowed:
        raise ValueError(
            f"{parameter} must be one of {', '.join(map(repr, allowed))}; got {safe_repr(value)}"
        )
    return str.__str__(value)


def _positive_seconds(parameter: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{parameter} must be a number of seconds or None; got {safe_repr(value)} "
            f"({type_name(value)})"
        )
    try:
        seconds = float(value)
    except Exception as error:  # a Real whose __float__ raises, or one too large
        raise ValueError(
            f"{parameter} must be a positive, finite number of seconds; got "
            f"{safe_repr(value)}, whose float() raised {type_name(error)}: {safe_str(error)}"
        ) from error
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(
            f"{parameter} must be a positive, finite number of seconds; got {safe_repr(value)}"
        )
    return seconds


def _positive_count(parameter: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{parameter} must be a whole number >= 1 or None; got {safe_repr(value)} "
            f"({type_name(value)})"
        )
    count = operator.index(value)  # a plain int, whatever an int subclass overrides
    if count < 1:
        raise ValueError(f"{parameter} must be >= 1 or None; got {count!r}")
    return count


def _names(parameter: str, values: object, *, keywords: bool) -> tuple[str, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(
            f"{parameter} must be a sequence of names, such as ('a', 'b'); got {safe_repr(values)}"
        )
    try:
        given = tuple(values)
    except Exception as error:  # an __iter__ or __len__ that raises
        raise TypeError(
            f"{parameter} must be a sequence of names, such as ('a', 'b'); iterating "
            f"{safe_repr(values)} raised {type_name(error)}: {safe_str(error)}"
        ) from error
    names: list[str] = []
    for name in given:
        if keywords:
            names.append(_keyword(name))
        elif not isinstance(name, str) or not str.__len__(name):
            raise ValueError(
                f"every phase must be a non-empty str; got {safe_repr(name)} in {safe_repr(given)}"
            )
        else:
            names.append(str.__str__(name))
        if names[-1] in names[:-1]:
            raise ValueError(f"{parameter} names {names[-1]!r} more than once: {safe_repr(given)}")
    return tuple(names)


def _priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"priority must be an int (higher is called first); got {safe_repr(value)} "
            f"({type_name(value)})"
        )
    return value


def _handler_ids(parameter: str, value: object) -> tuple[HandlerId, ...]:
    """Normalize ``before=``/``after=``: None, one handler id, or an iterable of them."""
    if value is None:
        return ()
    values = [value] if isinstance(value, int) else value
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(
            f"{parameter} must be a handler id, a sequence of handler ids, or None; "
            f"got {safe_repr(value)} ({type_name(value)})"
        )
    ids: dict[HandlerId, None] = {}
    for item in values:
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(
                f"{parameter} must name handler ids (the ints add_event_handler gives back); "
                f"got {safe_repr(item)} ({type_name(item)}) in {safe_repr(value)}"
            )
        ids[cast("HandlerId", int.__int__(item))] = None
    return tuple(ids)


def _run_id_prefix(prefix: object) -> str:
    if prefix is None:
        return secrets.token_hex(4)
    # Read as a plain str: a subclass may override len(), isprintable() and "in".
    plain = str.__str__(prefix) if isinstance(prefix, str) else None
    if not plain or not plain.isprintable() or " " in plain:
        raise ValueError(
            f"run_id_prefix must be a non-empty str of printable characters without spaces, "
            f"or None; got {safe_repr(prefix)}"
        )
    return plain


def current_call() -> CurrentCall | None:
    """Describe the handler call under way, or return None outside any handler.

    Usable inside a handler and inside the coroutines and ``inlineCallbacks``
    generators it starts (Twisted runs them in a copy of the handler's
    context).

    .. versionadded:: 1.1
    """
    call = CURRENT_CALL.get()
    if call is None:
        return None
    run, reg = call
    return CurrentCall(
        run_id=run.run_id,
        parent_run_id=run.parent_run_id,
        phase=reg.phase,
        handler_id=reg.handler_id,
        handler_name=reg.name,
        details=MappingProxyType(run.details),
        origin=run.origin,
        ending=run.ending,
        abort_reason=run.abort_reason,
    )


def _keyword(name: object) -> str:
    """Return *name* as a plain str if it can be a match keyword; raise ValueError if not."""
    if not isinstance(name, str) or not str.isidentifier(name):
        raise ValueError(
            "a match keyword must be a str that is a valid Python identifier; "
            f"got {safe_repr(name)}"
        )
    keyword = str.__str__(name)
    if keyword in RESERVED_KEYWORDS:
        raise ValueError(
            f"{keyword!r} cannot be a match keyword: it is a parameter name of the "
            "dispatcher's methods; reserved: "
            f"{', '.join(map(repr, sorted(RESERVED_KEYWORDS)))}"
        )
    return keyword


_ORIGIN_FIELDS: Final = (
    ("node", (str,)),
    ("run_id", (str, type(None))),
    ("handler_id", (int, type(None))),
    ("handler_name", (str, type(None))),
)


def _check_origin(origin: RunOrigin) -> None:
    # Every record of the run carries these fields: they must be plain values,
    # which any renderer can print, not objects whose __repr__ might raise.
    for name, types in _ORIGIN_FIELDS:
        value = getattr(origin, name)
        if type(value) not in types:
            allowed = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise TypeError(
                f"origin.{name} must be a plain {allowed}; got {safe_repr(value)} "
                f"({type_name(value)})"
            )


def _plain_keys(details: dict[str, Any]) -> dict[str, Any]:
    """Return *details* with plain str keys: ``**kwargs`` keys may be str subclasses."""
    plain = {str.__str__(key): value for key, value in details.items()}
    if len(plain) != len(details):
        raise ValueError(
            f"event details name a keyword more than once: {', '.join(map(repr, plain))}"
        )
    return plain


@final
@implementer(IEventDispatcher, IBackgroundUtility)
class EventDispatcher(Generic[EventT]):
    """Calls matching handlers for each fired event, phase by phase.

    It is generic in the type of its events: annotated as
    ``EventDispatcher[UserEvent]``, a type checker flags a handler that
    does not accept a ``UserEvent`` and a ``fire_event`` of something else,
    and the runs it gives are ``EventRun[UserEvent]``.  Unparameterised, it
    fires events of any type.

    Args:
        allowed_match_spec_keywords: The keywords that match specs and event
            details may use.
        phases: The phases, in the order they run.
        reactor: The reactor whose clock times handlers and runs timeouts;
            None for the global reactor, looked up when first needed.  Tests
            pass a :class:`twisted.internet.task.Clock`.
        ordering: ``"serial"``: runs execute one at a time, in fire order (a
            run fired from inside a handler is a child and starts at once).
            ``"concurrent"``: every run starts at once.
        when_stopped: What firing does while the dispatcher is not running:
            ``"drop"`` the run (status ``dropped``, with a warning),
            ``"queue"`` it until :meth:`start`, or fail its Deferred with
            ``"error"`` (:class:`~twisted_event_dispatcher.DispatcherNotRunning`).
        max_queued: How many runs may wait (for their serial turn, or for
            :meth:`start`) before firing fails with
            :class:`~twisted_event_dispatcher.QueueFull`; None for no limit.
        on_handler_error: ``"continue"`` with the next phases after a
            handler fails, or ``"abort"`` the run once the failing phase has
            settled (status ``aborted``).
        handler_timeout: Seconds a handler's Deferred or coroutine may stay
            pending before it is cancelled (outcome ``timed_out``); None for
            no limit.  Handlers may set their own ``timeout``.
        run_id_prefix: What every run id of this dispatcher starts with,
            before ``-<counter>``; None for 8 random hex digits.  Processes
            that exchange events (a cluster) give each node a prefix of its
            own, so run ids are unique across them.
        always: Cleanup phases, among *phases*: each runs even when an
            earlier phase aborted the run (a handler raised
            :class:`~twisted_event_dispatcher.AbortRun`, or
            ``on_handler_error="abort"``) or the run was cancelled; see the
            semantics guide for what such a phase sees.

    Its state belongs to its reactor's thread.  Called from another thread
    while that reactor runs (under crochet, or from a thread pool), a method
    that changes or reads state runs in the reactor thread and the caller
    blocks until it returns; a Deferred it returns then fires in the reactor
    thread, so hand it to code running there, or use
    :func:`~twisted_event_dispatcher.fire_event_from_thread`, which waits
    for the run.  With no reactor running (a ``Clock`` in tests) every call
    is synchronous.

    Raises:
        ValueError: A phase or keyword is repeated, the phases are empty, a
            keyword is reserved or not an identifier, or an option is not one
            of its allowed values.
        TypeError: Phases or keywords are not a sequence of names, or a
            number is of the wrong type.

    .. versionadded:: 1.0
    .. versionchanged:: 1.2
       Added *always*; generic in the event type.
    """

    def __init__(
        self,
        allowed_match_spec_keywords: Iterable[str],
        phases: Sequence[str] = DEFAULT_PHASES,
        *,
        reactor: IReactorTime | None = None,
        ordering: Ordering = "serial",
        when_stopped: WhenStopped = "drop",
        max_queued: int | None = None,
        on_handler_error: OnHandlerError = "continue",
        handler_timeout: float | None = None,
        run_id_prefix: str | None = None,
        always: Sequence[str] = (),
    ) -> None:
        keywords = _names(
            "allowed_match_spec_keywords", allowed_match_spec_keywords, keywords=True
        )
        phase_names = _names("phases", phases, keywords=False)
        if not phase_names:
            raise ValueError("phases must name at least one phase; got an empty sequence")
        cleanup = _names("always", always, keywords=False)
        for name in cleanup:
            if name not in phase_names:
                raise ValueError(
                    f"always names {name!r}, which is not one of the phases "
                    f"{', '.join(map(repr, phase_names))}"
                )
        ordering = cast("Ordering", _choice("ordering", ordering, _ORDERINGS))
        when_stopped = cast("WhenStopped", _choice("when_stopped", when_stopped, _WHEN_STOPPED))
        on_handler_error = cast(
            "OnHandlerError", _choice("on_handler_error", on_handler_error, _ON_HANDLER_ERROR)
        )
        self._registry: Final = Registry(phase_names, keywords)
        self._host: Final = _Host(
            self._registry,
            phase_names,
            reactor,
            _run_id_prefix(run_id_prefix),
            abort_on_error=on_handler_error == "abort",
            handler_timeout=_positive_seconds("handler_timeout", handler_timeout),
            always=tuple(name for name in phase_names if name in cleanup),
        )
        self._lifecycle_core: Final = LifecycleCore(
            self._host,
            serial=ordering == "serial",
            when_stopped=when_stopped,
            max_queued=_positive_count("max_queued", max_queued),
            log=get_logger,
        )
        self._lifecycle: Final[LifecycleInputs] = make_lifecycle_machine()(self._lifecycle_core)
        self._host.attach(self._lifecycle, self._lifecycle_core)
        self._ordering: Final = ordering
        self._when_stopped: Final = when_stopped
        self._on_handler_error: Final = on_handler_error
        self._pauses = 0
        self._held: Final[deque[RunCore]] = deque()
        """Top-level runs fired while paused, in fire order; released by resume()."""
        self._held_purge_at = _HELD_PURGE_MIN
        """The length of ``_held`` at which the runs cancelled while held are forgotten."""

    def __repr__(self) -> str:
        state = "running" if self.running else "not running"
        return (
            f"<EventDispatcher {state} phases={self.phases!r} "
            f"keywords={self.match_spec_keywords!r} handlers={len(self._registry)}>"
        )

    # -- configuration ----------------------------------------------------------------

    @property
    def phases(self) -> tuple[str, ...]:
        """The configured phases, in the order they run."""
        return self._host.phases

    @property
    def match_spec_keywords(self) -> tuple[str, ...]:
        """The keywords match specs and event details may use, in the order they were allowed."""
        return self._registry.keywords

    @property
    def always(self) -> tuple[str, ...]:
        """The cleanup phases, in phase order; each runs even after an abort or a cancel.

        .. versionadded:: 1.2
        """
        return self._host.always

    @property
    def ordering(self) -> Ordering:
        """``"serial"`` or ``"concurrent"``."""
        return self._ordering

    @property
    def when_stopped(self) -> WhenStopped:
        """What firing does while the dispatcher is not running."""
        return self._when_stopped

    @property
    def on_handler_error(self) -> OnHandlerError:
        """Whether a failed handler aborts the run after its phase."""
        return self._on_handler_error

    @property
    def _reactor_if_given(self) -> object | None:
        # For in_reactor_thread: the reactor given, without looking the global one up.
        return self._host._reactor

    @property
    def reactor(self) -> IReactorTime:
        """The reactor whose clock the dispatcher uses (the global one unless given)."""
        return self._host.clock

    @in_reactor_thread
    def add_match_spec_keyword(self, name: str) -> None:
        """Allow *name* in match specs and event details from now on.

        Allowing a keyword that is allowed already changes nothing.

        Raises:
            ValueError: *name* is not an identifier, or is a reserved parameter name.
        """
        keyword = _keyword(name)
        if keyword not in self._registry.keywords:
            self._registry.add_keyword(keyword)

    @in_reactor_thread
    def remove_match_spec_keyword(self, name: str) -> None:
        """Disallow *name* in match specs and event details from now on.

        Raises:
            ValueError: *name* is not allowed, or a registered handler's match
                spec uses it.
        """
        self._registry.remove_keyword(name)

    # -- handlers ---------------------------------------------------------------------

    @overload
    def add_event_handler(
        self,
        /,
        listen_fn: Callable[[EventT], object],
        phase: str,
        use_weakref: bool = True,
        *,
        max_calls: int | None = None,
        timeout: float | None = None,
        priority: int = 0,
        before: HandlerId | Iterable[HandlerId] | None = None,
        after: HandlerId | Iterable[HandlerId] | None = None,
        pass_details: Literal[False] = False,
        **match_spec: Any,
    ) -> Deferred[HandlerId]: ...

    @overload
    def add_event_handler(
        self,
        /,
        listen_fn: Callable[Concatenate[EventT, ...], object],
        phase: str,
        use_weakref: bool = True,
        *,
        max_calls: int | None = None,
        timeout: float | None = None,
        priority: int = 0,
        before: HandlerId | Iterable[HandlerId] | None = None,
        after: HandlerId | Iterable[HandlerId] | None = None,
        pass_details: bool,
        **match_spec: Any,
    ) -> Deferred[HandlerId]: ...

    @in_reactor_thread
    def add_event_handler(
        self,
        /,
        listen_fn: Callable[..., object],
        phase: str,
        use_weakref: bool = True,
        *,
        max_calls: int | None = None,
        timeout: float | None = None,
        priority: int = 0,
        before: HandlerId | Iterable[HandlerId] | None = None,
        after: HandlerId | Iterable[HandlerId] | None = None,
        pass_details: bool = False,
        **match_spec: Any,
    ) -> Deferred[HandlerId]:
        """Register *listen_fn* to be called with matching events in *phase*.

        Within a phase, handlers are called in order of *priority* (higher
        first), then in registration order; *before* and *after* constraints
        come first of all.  The order is worked out when handlers are added
        or removed, never when an event is fired.

        Args:
            listen_fn: Called with the event.  It may return a plain value, a
                Deferred, or an awaitable: a coroutine (native, or not, as
                Cython's are) or any object with ``__await__``, awaiting
                Deferreds.  The phase waits for Deferreds and awaitables.
            phase: One of :attr:`phases`.
            use_weakref: Hold *listen_fn* by a weak reference (a bound method:
                a weak reference to its instance) and remove the registration
                once it is collected.
            max_calls: Remove the handler after this many calls.
            timeout: Seconds this handler's pending result may take; overrides
                the dispatcher's ``handler_timeout``.
            priority: Handlers of higher priority are called first within the
                phase; equal priorities keep registration order.
            before: A handler id (or several) of the same phase that this
                handler must be called before, whatever the priorities.
            after: A handler id (or several) of the same phase that this
                handler must be called after, whatever the priorities.
            pass_details: Call *listen_fn* as ``listen_fn(event, **details)``
                with the run's details, rather than with the event alone.
            **match_spec: keyword=value pairs an event's details must carry;
                a value of None is a wildcard.

        Returns:
            A Deferred, already fired, with the handler's id.

        Raises:
            TypeError: *listen_fn* is not callable or cannot be weakly
                referenced, a match value is not hashable (or comparing it
                with the values registered already raises), or a number is
                of the wrong type.
            ValueError: *phase* or a match keyword is unknown, *max_calls*
                or *timeout* is out of range, or *before*/*after* name an
                unknown id, an id of another phase, or would make a cycle
                (the message names the ids).

        .. versionchanged:: 1.2
           Added *priority*, *before*, *after* and *pass_details*.
        """
        self._warn_collected()
        if not callable(listen_fn):
            raise TypeError(
                f"listen_fn must be callable; got {safe_repr(listen_fn)} ({type_name(listen_fn)})"
            )
        if not isinstance(use_weakref, bool):
            raise TypeError(f"use_weakref must be True or False; got {safe_repr(use_weakref)}")
        if not isinstance(pass_details, bool):
            raise TypeError(f"pass_details must be True or False; got {safe_repr(pass_details)}")
        reg = self._registry.add(
            listen_fn,
            phase,
            weak=use_weakref,
            max_calls=_positive_count("max_calls", max_calls),
            timeout=_positive_seconds("timeout", timeout),
            match_spec=match_spec,
            priority=_priority(priority),
            before=_handler_ids("before", before),
            after=_handler_ids("after", after),
            pass_details=_details_of_current_call if pass_details else None,
        )
        return succeed(reg.handler_id)

    def handler(
        self, /, phase: str, use_weakref: bool = True, **options: Any
    ) -> HandlerDecorator[EventT]:
        """Register the decorated function, as :meth:`add_event_handler` would, and return it.

        The function is returned unchanged, so it can still be called (and
        tested) directly; its handler id is set on it as ``handler_id`` (the
        last one, if it is decorated more than once) and is in :meth:`handlers`.

        Args:
            phase: One of :attr:`phases`.
            use_weakref: As for :meth:`add_event_handler` (a module-level
                function lives as long as its module).
            **options: Any other keyword :meth:`add_event_handler` takes
                (``priority``, ``max_calls``, match spec keywords...).

        Raises:
            TypeError: The decorated function is defined in a class body (it
                would be called without an instance): register the bound
                method per instance instead, in ``__init__``.  Any error
                :meth:`add_event_handler` raises, at decoration time.

        .. versionadded:: 1.2
        """

        def register(
            fn: Callable[Concatenate[EventT, _P], _R],
        ) -> Callable[Concatenate[EventT, _P], _R]:
            _refuse_class_body_method(fn)
            handler_id = _result_now(self.add_event_handler(fn, phase, use_weakref, **options))
            with contextlib.suppress(AttributeError, TypeError):
                fn.handler_id = handler_id  # type: ignore[attr-defined]
            return fn

        return register

    @contextlib.contextmanager
    def handling(
        self,
        /,
        listen_fn: Callable[[EventT], object] | Callable[Concatenate[EventT, ...], object],
        phase: str,
        use_weakref: bool = True,
        **options: Any,
    ) -> Iterator[HandlerId]:
        """Register *listen_fn* for the ``with`` block, giving its id; remove it on exit.

        It is removed however the block exits, by an exception too, unless it
        was removed already (by hand, after ``max_calls``, or collected).

        Args:
            listen_fn: As for :meth:`add_event_handler`.
            phase: One of :attr:`phases`.
            use_weakref: As for :meth:`add_event_handler`.
            **options: Any other keyword :meth:`add_event_handler` takes.

        .. versionadded:: 1.2
        """
        handler_id = _result_now(self.add_event_handler(listen_fn, phase, use_weakref, **options))
        try:
            yield handler_id
        finally:
            self.remove_event_handler(handler_id).addErrback(
                lambda failure: failure.trap(UnknownHandlerError) and None
            )

    @in_reactor_thread
    def remove_event_handler(self, handler_id: HandlerId) -> Deferred[None]:
        """Remove the handler registered under *handler_id*.

        It takes effect at once: the handler is not called again, not even by
        a run in flight.

        Returns:
            A Deferred, already fired: with None, or failed with
            :class:`~twisted_event_dispatcher.UnknownHandlerError` when no
            handler is registered under that id.  Ids are ints and compare
            by type as well as value: ``True`` (equal to ``1``) is no id.
        """
        # Removed first, then warned: under -W error the handler is gone all the same
        # (handling() relies on it when its block exits).
        try:
            self._registry.remove(handler_id)
        except UnknownHandlerError as error:
            self._warn_collected()
            return fail(error)
        self._warn_collected()
        return succeed(None)

    @in_reactor_thread
    def handlers(self) -> list[HandlerRegistration]:
        """Return a read-only record of every registered handler, in call order.

        Phase by phase, in the order each phase calls them (priority,
        ``before``/``after``, then registration order).

        .. versionchanged:: 1.2
           In phase order, then call order (it was registration order; the
           two agree within a phase that uses no priorities or constraints).
        """
        self._warn_collected()
        return self._registry.snapshots()

    @in_reactor_thread
    def matching_handlers(self, /, **event_details: Any) -> dict[str, list[HandlerRegistration]]:
        """Return, phase by phase, the handlers that firing with *event_details* would call.

        Nothing is called.

        Raises:
            ValueError: A key of *event_details* is not an allowed keyword.
            TypeError: A value is not hashable, or comparing it with the values
                of the registered match specs raised.
        """
        self._warn_collected()
        _, matches = self._match(event_details)
        return {
            phase: [reg.snapshot() for reg in regs]
            for phase, regs in zip(self.phases, matches, strict=True)
        }

    # -- firing -----------------------------------------------------------------------

    @in_reactor_thread
    def fire_event(self, /, event: EventT, **event_details: Any) -> Deferred[EventRun[EventT]]:
        """Call every handler whose match spec *event_details* satisfy, phase by phase.

        Each phase's handlers are called in their call order (priority,
        ``before``/``after``, then registration order); the next phase
        starts once every Deferred and coroutine they returned has settled.
        Fired from inside a handler, the run is a child of that handler's run
        and starts at once.

        Args:
            event: Passed to every handler.
            **event_details: The keyword=value pairs handlers are matched on.

        Returns:
            A Deferred that fires with the :class:`~twisted_event_dispatcher.EventRun`
            once the run has ended (or fails, see ``when_stopped`` and
            ``max_queued``).  Cancelling it cancels the pending handler
            results and ends the run as ``cancelled``; it then fires with
            that run.  (Cancelled from inside one of the run's own handlers,
            the run calls no further handler.)  A run that waited for its
            turn is matched again if handlers changed meanwhile; should
            comparing a detail value with a newly registered match value
            raise, the run does not begin: it fails with the
            :class:`TypeError` ``fire_event`` would have raised then (logged
            as ``run_rejected``), and gives up its place.

        Raises:
            ValueError: A key of *event_details* is not an allowed keyword.
            TypeError: A value of *event_details* is not hashable, or comparing
                it with the values of the registered match specs raised.
        """
        details, matches = self._match(event_details)
        if self._registry.unwarned:  # matching purged a handler collected unused
            self._warn_collected()
        run = self._host.new_run(event, details, matches, None)
        if self._pauses and self._hold(run):
            return run.deferred
        lifecycle_submit(self._lifecycle, self._lifecycle_core, run)
        self._host.pump()
        return run.deferred

    @in_reactor_thread
    def fire_event_from(
        self, origin: RunOrigin, /, event: EventT, **event_details: Any
    ) -> Deferred[EventRun[EventT]]:
        """Fire *event* on behalf of another process, as :meth:`fire_event` does.

        The run is a top-level run here, but its :attr:`EventRun.origin` is
        *origin*, its ``parent_run_id`` is the run that fired it there, and its
        trace records name that run and handler: traces of both processes join
        into one tree (``tedtool trace a.jsonl b.jsonl``).

        Args:
            origin: Where the event was fired.
            event: Passed to every handler.
            **event_details: The keyword=value pairs handlers are matched on.

        Raises:
            TypeError: *origin* is not a :class:`RunOrigin`, or one of its
                fields is not of its type (a plain str, an int for
                ``handler_id``, or None), or a detail value is not hashable.
            ValueError: A key of *event_details* is not an allowed keyword.

        .. versionadded:: 1.1
        """
        if not isinstance(origin, RunOrigin):
            raise TypeError(f"origin must be a RunOrigin; got {type_name(origin)} instance")
        _check_origin(origin)
        details, matches = self._match(event_details)
        if self._registry.unwarned:
            self._warn_collected()
        run = self._host.new_run(event, details, matches, origin)
        if self._pauses and self._hold(run):
            return run.deferred
        lifecycle_submit(self._lifecycle, self._lifecycle_core, run)
        self._host.pump()
        return run.deferred

    def _warn_collected(self) -> None:
        """Issue one :class:`HandlerCollectedWarning` for the handlers collected unused.

        Called at the top of the public methods (and by ``fire_event`` once
        matching has purged), never from inside the registry or a run: under
        ``-W error`` the warning is raised to the caller, and the dispatcher's
        state is whole by then.  The stack level names the caller's line.
        One warning names every handler collected since the last one (the
        first few by name, the rest counted), so a hundred thousand owners
        dying at once make one warning, not a hundred thousand.
        """
        registry = self._registry
        registry.purge()
        if not registry.unwarned:
            return
        collected, registry.unwarned = registry.unwarned, []
        names = [
            f"{reg.name} (id {reg.handler_id}, phase {reg.phase!r})"
            for reg in collected[:_WARNING_NAMES]
        ]
        if len(collected) > _WARNING_NAMES:
            names.append(f"and {len(collected) - _WARNING_NAMES} more")
        if len(collected) == 1:
            message = (
                f"handler {names[0]} was collected before its first call: nothing else "
                "referenced it (an inline lambda or functools.partial?); keep a reference "
                "to it, or register it with use_weakref=False"
            )
        else:
            message = (
                f"{len(collected)} handlers were collected before their first call: nothing "
                "else referenced them (inline lambdas or functools.partial?); keep references "
                f"to them, or register them with use_weakref=False: {', '.join(names)}"
            )
        warnings.warn(
            HandlerCollectedWarning(message),
            stacklevel=_callers_level(),
        )

    def _match(self, details: dict[str, Any]) -> tuple[dict[str, Any], Matches]:
        try:
            return details, self._registry.match(details)
        except Exception:  # noqa: BLE001 -- matched again below, to raise a clean error
            # A key may be a str subclass whose __eq__ or __hash__ raises: with
            # plain keys, matching succeeds or raises a ValueError or TypeError
            # naming what is wrong (as it does for a plain bad key or value).
            details = _plain_keys(details)
            return details, self._registry.match(details)

    # -- pausing ----------------------------------------------------------------------

    @property
    def is_paused(self) -> bool:
        """True between :meth:`pause` and the :meth:`resume` that balances it.

        .. versionadded:: 1.2
        """
        return self._pauses > 0

    @in_reactor_thread
    def pause(self) -> None:
        """Hold every top-level run fired from now on until :meth:`resume`.

        A held run is not dropped: :meth:`fire_event` returns its Deferred at
        once, and the run waits, in fire order, for the :meth:`resume` that
        balances this call; pauses nest, each :meth:`pause` needing its own
        :meth:`resume`.  Runs that began before the pause go on, and so do
        the child runs their handlers fire: only top-level runs are held.
        :meth:`stop` releases the held runs first (see there).  A held run
        counts against ``max_queued``; cancelling its Deferred ends it as
        ``cancelled`` without calling any handler.

        .. versionadded:: 1.2
        """
        self._pauses += 1
        get_logger().debug("dispatcher_paused", depth=self._pauses)

    @in_reactor_thread
    def resume(self) -> None:
        """Balance one :meth:`pause`; after the last, release the held runs in fire order.

        The released runs are submitted as if they had been fired at that
        moment: one at a time (``ordering="serial"``) or all at once
        (``"concurrent"``), and, were the dispatcher not running then, as
        ``when_stopped`` says.  A run is matched again against the handlers
        registered when its turn comes, if they changed since it was fired.

        Raises:
            RuntimeError: The dispatcher is not paused.

        .. versionadded:: 1.2
        """
        if not self._pauses:
            raise RuntimeError("resume() called on a dispatcher that is not paused")
        self._pauses -= 1
        get_logger().debug("dispatcher_resumed", depth=self._pauses, held=len(self._held))
        if not self._pauses:
            self._release()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Pause the dispatcher for the ``with`` block: :meth:`pause`, then :meth:`resume`.

        The runs fired inside the block are released, in fire order, when it
        exits, however it exits (by an exception too), unless an enclosing
        pause is still in force.

        .. versionadded:: 1.2
        """
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def _hold(self, run: RunCore) -> bool:
        """Hold *run* while paused, unless it is a child of a run in flight; say if it was."""
        core = self._lifecycle_core
        if run.parent is not None and run.parent[0] in core.in_flight:
            return False  # part of a run under way: it begins at once
        held = self._held
        if len(held) >= self._held_purge_at:
            self._purge_held()  # runs cancelled while held: amortised, never per fire
        limit = core.max_queued
        if limit is not None and core.waiting() + len(held) >= limit:
            self._purge_held()
            if core.waiting() + len(held) >= limit:
                self._host.queue_full(run, limit)
                return True
        held.append(run)
        run.log.debug("run_queued", position=len(held), reason="paused")
        return True

    def _purge_held(self) -> None:
        """Forget the held runs that have ended (cancelled while held)."""
        held = self._held
        unended = [run for run in held if run.status is None]
        held.clear()
        held.extend(unended)
        self._held_purge_at = max(_HELD_PURGE_MIN, 2 * len(held))

    def _release(self) -> None:
        held = [run for run in self._held if run.status is None]
        self._held.clear()
        self._held_purge_at = _HELD_PURGE_MIN
        for run in held:
            self._lifecycle.submit(run)
        self._host.pump()

    # -- lifecycle --------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True from :meth:`start` until :meth:`stop` is called."""
        return self._lifecycle_core.running

    @in_reactor_thread
    def start(self) -> None:
        """Start dispatching; runs queued while stopped (``when_stopped="queue"``) begin.

        Starting a running dispatcher changes nothing.

        Raises:
            RuntimeError: The dispatcher is still stopping.
        """
        try:
            self._lifecycle.start()
        finally:
            self._host.pump()

    @in_reactor_thread
    def stop(self, timeout: float | None = None) -> Deferred[None]:
        """Stop dispatching.

        :attr:`running` is False at once, and no new run starts (but a run
        fired from inside a run still in flight does: it is part of that
        run's work).

        Runs held by a :meth:`pause` are not lost: ``stop()`` first releases
        them, in fire order, as :meth:`resume` would, so they are accepted
        before the stop and the returned Deferred waits for them too (a
        stopped dispatcher meets them with its ``when_stopped``).  The pause
        itself stays in force: runs fired afterwards are held again until it
        is resumed.

        Args:
            timeout: Seconds, on the dispatcher's reactor clock, to wait for
                the runs to end; None to wait as long as they take.  When it
                runs out, every run still in flight or waiting for its serial
                turn is cancelled (each ends ``cancelled``, with a
                ``run_cancelled`` warning naming what it still waited for),
                and the Deferred fires.  With several ``stop()`` calls
                pending, the first timeout to run out ends them all.

        Returns:
            A Deferred that fires once every run in flight or waiting for its
            serial turn has ended.  The dispatcher can be started again then.

        Raises:
            TypeError: *timeout* is not a number.
            ValueError: *timeout* is not positive and finite.

        .. versionchanged:: 1.1
           Added *timeout*.
        .. versionchanged:: 1.2
           Releases the runs held by :meth:`pause`.
        """
        seconds = _positive_seconds("timeout", timeout)
        if self._held:
            self._release()
        waiter: Deferred[None] = Deferred()
        self._lifecycle.stop(waiter)
        self._host.pump()
        if seconds is not None and not waiter.called:
            timer = self._host.clock.callLater(seconds, self._stop_timed_out, seconds)
            waiter.addBoth(_cancel_timer, timer)
        return waiter

    def _stop_timed_out(self, timeout: float) -> None:
        self._lifecycle.stop_timed_out(timeout)
        self._host.pump()

    @in_reactor_thread
    def runs_in_flight(self) -> list[RunInFlight]:
        """Return a read-only record of every run that has not ended, for operators.

        The runs under way come first, in the order they began (a child after
        its parent), then those waiting: for their serial turn, then for
        :meth:`start` (``when_stopped="queue"``), then for :meth:`resume`.

        .. versionadded:: 1.1
        """
        core = self._lifecycle_core
        now = self._host.clock.seconds()
        return [
            _in_flight(run, now)
            for run in itertools.chain(core.in_flight, core.backlog, core.parked, self._held)
            if run.status is None
        ]


_OWN_FILES: Final = (str(Path(__file__).parents[1]) + os.sep, contextlib.__file__)
"""Frames in these are skipped: a warning names the first line of the caller's code."""


def _callers_level() -> int:
    """Return the ``stacklevel`` of the first frame outside this package (and contextlib).

    Counted for a :func:`warnings.warn` called by this function's caller.
    """
    frame = sys._getframe(2)  # the caller of our caller: level 2
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_OWN_FILES):
        frame = frame.f_back
        level += 1
    return level


def _result_now(deferred: Deferred[_T]) -> _T:
    """Return the result of a Deferred that has fired already (add_event_handler's)."""
    results: list[_T] = []
    deferred.addCallback(results.append)
    return results[0]


def _cancel_timer(result: _T, timer: IDelayedCall) -> _T:
    if timer.active():
        timer.cancel()
    return result


def _in_flight(run: RunCore, now: float) -> RunInFlight:
    phase = run.phase
    return RunInFlight(
        run_id=run.run_id,
        parent_run_id=run.parent_run_id,
        event_type=type_name(run.event),
        phase=None if phase is None else phase.name,
        pending_handlers=()
        if phase is None
        else tuple((call.handler_id, call.name) for call in phase.pending),
        age=now - run.fired_at,
    )


def _deliver(run: RunCore, result: EventRun) -> None:
    if not run.deferred.called:  # cancelled while its delivery waited: delivered then
        run.deferred.callback(result)
    run.release()


def _refuse(run: RunCore, failure: Failure) -> None:
    if not run.deferred.called:
        run.deferred.errback(failure)
    run.release()


def _cancel_run(run: RunCore) -> Callable[[Deferred[EventRun]], None]:
    def cancel(deferred: Deferred[EventRun]) -> None:
        run.cancel_requested = True
        step(run, "cancel")
        if not deferred.called:
            # Twisted would fail the Deferred with CancelledError: deliver the
            # run now instead.  Either it was cancelled from inside one of its
            # own handlers (automat holds the input until the machine's current
            # step is over: no further handler is called, and its outcomes are
            # complete once the held input has ended the run), or it had ended
            # and its delivery was waiting its turn (see _Host.run_ended).
            deferred.callback(run.result(run.status or "cancelled"))
        if run.status is not None:
            run.release()

    return cancel


@final
class _Host:
    """The dispatcher as its machines see it (:class:`RunHost` and :class:`LifecycleHost`)."""

    def __init__(
        self,
        registry: Registry,
        phases: tuple[str, ...],
        reactor: IReactorTime | None,
        run_id_prefix: str,
        *,
        abort_on_error: bool,
        handler_timeout: float | None,
        always: tuple[str, ...] = (),
    ) -> None:
        self.registry: Final = registry
        self.phases: Final = phases
        self.always: Final = always
        self.abort_on_error: Final = abort_on_error
        self.handler_timeout: Final = handler_timeout
        self._reactor = reactor
        self._machine: Final = make_run_machine(phases, always)
        self._prefix: Final = run_id_prefix
        self._ids: Final = itertools.count(1)
        self._pumping = 0
        self._nesting = 0
        self._soon: Final[deque[Callable[[], object]]] = deque()
        self.observer: RunObserver | None = None
        """What watches the runs created from now on (see ``runtime._observe``)."""
        self._run_coroutine: CoroutineRunner | None = None

    def attach(self, lifecycle: LifecycleInputs, core: LifecycleCore) -> None:
        self._lifecycle = lifecycle
        self._lifecycle_core = core

    @property
    def clock(self) -> IReactorTime:
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = cast("IReactorTime", reactor)
        return self._reactor

    def new_run(
        self, event: Any, details: dict[str, Any], matches: Any, origin: RunOrigin | None
    ) -> RunCore:
        parent = None if origin is not None else CURRENT_CALL.get()
        run_id = f"{self._prefix}-{next(self._ids)}"
        logger = get_logger()
        debug = is_debug_enabled(logger)
        run = RunCore(self, run_id, parent, event, details, logger, debug, matches, origin)
        clock = self._reactor
        if clock is None:
            clock = self.clock
        run.clock = clock
        run.fired_at = clock.seconds()
        if self._nesting >= _MAX_NESTING:
            # Too deep to begin inside fire_event: it begins from an enclosing
            # loop, in the context of the handler that fired it all the same.
            run.context = contextvars.copy_context()
        run.generation = self.registry.generation
        run.inputs = self._machine(run)
        run.deferred = Deferred(_cancel_run(run))
        if self.observer is not None:
            run.observation = self.observer.observe_run(run)
            if run.observation is not None:
                run.deferred.addErrback(run.observation.run_rejected)
        if debug:
            run.log.debug(
                "run_created",
                event_type=type_name(event),
                details={key: safe_repr(value) for key, value in details.items()},
                parent_handler_id=(
                    parent[1].handler_id
                    if parent is not None
                    else None
                    if origin is None
                    else origin.handler_id
                ),
                parent_handler_name=(
                    parent[1].name
                    if parent is not None
                    else None
                    if origin is None
                    else origin.handler_name
                ),
            )
        return run

    def pump(self) -> None:
        """Carry out what the lifecycle machine decided, in order, and deliver ended runs.

        (:meth:`_loop` with *actions*, written out: every fire_event pumps.)
        """
        if self._nesting >= _MAX_NESTING:
            return
        soon = self._soon
        queue = self._lifecycle_core.actions
        self._nesting += 1
        self._pumping += 1
        try:
            while True:
                if soon:
                    soon.popleft()()
                elif queue:
                    queue.popleft()()
                else:
                    break
        finally:
            self._nesting -= 1
            self._pumping -= 1

    def _loop(self, *, actions: bool) -> None:
        """Do what is due soon (:meth:`call_soon`), then (with *actions*) the actions.

        What is due soon goes first: a run is delivered as soon as the stack
        allows, before the next run begins.  Nested too deeply (see
        :data:`_MAX_NESTING`), it does nothing: an enclosing loop does it all
        once its current step has returned.
        """
        if self._nesting >= _MAX_NESTING:
            return
        soon = self._soon
        queue = self._lifecycle_core.actions
        self._nesting += 1
        self._pumping += actions
        try:
            while True:
                if soon:
                    soon.popleft()()
                elif actions and queue:
                    queue.popleft()()
                else:
                    break
        finally:
            self._nesting -= 1
            self._pumping -= actions

    def call_soon(self, work: Callable[[], object]) -> None:
        """Call *work* now, or, nested too deeply, once the stack has unwound a little."""
        self._soon.append(work)
        self._loop(actions=False)

    # -- LifecycleHost ----------------------------------------------------------------

    def begin(self, run: RunCore) -> None:
        if run.status is not None:  # cancelled between the decision and now
            return
        if run.generation != self.registry.generation:
            # Checked when fired; a keyword removed since cannot be in any spec.
            try:
                run.matches = self.registry.match(run.details, check=False)
            except Exception as error:  # noqa: BLE001 -- delivered through the run's Deferred
                self._unmatchable(run, error)
                return
        run.started = run.clock.seconds()
        if run.debug:
            run.log.debug("run_started")
        if run.context is None:
            step(run, "begin")
        else:
            run.context.run(step, run, "begin")

    def _unmatchable(self, run: RunCore, error: Exception) -> None:
        # A detail value's __eq__ raised against a spec registered while the run
        # waited: the run cannot begin.  It ends as fire_event would have ended
        # then (with the TypeError), and gives up its place, so the serial slot
        # is freed and a stop() can drain.
        if not isinstance(error, (TypeError, ValueError)):
            error = TypeError(
                f"the details of {safe_repr(run.event)} could not be matched when its turn "
                f"came: {type_name(error)}: {safe_str(error)}"
            ).with_traceback(error.__traceback__)
        run.log.warning(
            "run_rejected",
            reason="its details could not be matched against the handlers registered "
            "when its turn came",
            exception_type=type_name(error),
            exception_message=safe_str(error),
        )
        lifecycle_run_ended(self._lifecycle, self._lifecycle_core, run)
        self._soon.append(functools.partial(_refuse, run, Failure(error)))

    def drop(self, run: RunCore) -> None:
        if run.status is None:
            step(run, "drop")

    def reject(self, run: RunCore, state: str) -> None:
        if run.status is not None:
            return
        run.log.warning("run_rejected", reason=f"the dispatcher is {state} (when_stopped='error')")
        run.deferred.errback(
            DispatcherNotRunning(
                f"cannot fire {safe_repr(run.event)}: the dispatcher is {state}; call start() "
                "first, or build it with when_stopped='queue' or 'drop'"
            )
        )
        run.release()

    def queue_full(self, run: RunCore, limit: int) -> None:
        if run.status is not None:
            return
        run.log.warning("run_rejected", reason=f"max_queued={limit} runs wait already")
        run.deferred.errback(
            QueueFull(
                f"cannot queue {safe_repr(run.event)}: max_queued={limit} runs are waiting already"
            )
        )
        run.release()

    def cancel_for_stop(self, runs: list[RunCore], timeout: float) -> None:
        now = self.clock.seconds()
        records = [(run, _in_flight(run, now)) for run in runs if run.status is None]
        get_logger().warning(
            "stop_timed_out",
            timeout=timeout,
            count=len(records),
            run_ids=[record.run_id for _, record in records],
        )
        reason = f"stop() timed out after {timeout} seconds"
        for run, record in records:
            run.log.warning(
                "run_cancelled",
                reason=reason,
                phase=record.phase,
                pending_handlers=[
                    {"handler_id": handler_id, "handler_name": name}
                    for handler_id, name in record.pending_handlers
                ],
                age=record.age,
            )
        # Parents first: cancelling one cancels the children its handlers await.
        for run in runs:
            if run.status is None:
                self._cancel_for_stop(run)

    def _cancel_for_stop(self, run: RunCore) -> None:
        try:
            run.deferred.cancel()
            if run.status is None and run.deferred.called:
                # Still in a cleanup phase (or cancelled earlier and cleaning up):
                # a second cancel cuts the cleanup short, so the stop stays bounded.
                step(run, "cancel")
        except Exception:  # the stop must end, whatever a canceller does
            run.log.exception("run_cancel_failed", reason="stop() timed out")
        if run.status is None:
            # Its cancellation went wrong (a raising canceller): the stop must end
            # all the same, so forget the run and deliver it as cancelled.
            run.log.error("run_abandoned", reason="stop() timed out and cancelling it failed")
            lifecycle_run_ended(self._lifecycle, self._lifecycle_core, run)
            if not run.deferred.called:
                run.deferred.callback(run.result("cancelled"))
            run.release()

    # -- RunHost ----------------------------------------------------------------------

    def exhaust(self, reg: Registration) -> None:
        self.registry.exhaust(reg)

    def from_coroutine(self, coro: Coroutine[Any, Any, Any]) -> Deferred[Any]:
        # Chosen once the reactor is known: Twisted's driver, or asyncio Tasks
        # on the asyncio reactor (runtime._asyncio).
        run = self._run_coroutine
        if run is None:
            run = self._run_coroutine = coroutine_runner(self.clock)
        return run(coro)

    def run_ended(self, run: RunCore, result: EventRun) -> None:
        if run.observation is not None:
            run.observation.run_ended(result)
        lifecycle_run_ended(self._lifecycle, self._lifecycle_core, run)
        soon = self._soon
        if run.deferred.called:  # cancelled while a transition was under way
            run.release()
        elif not soon and self._nesting < _MAX_NESTING:
            # Nothing is due before it: deliver it now, as _loop would, nested as
            # deep as _loop would nest it.
            self._nesting += 1
            try:
                run.deferred.callback(result)  # _deliver's work (its Deferred is not called)
                run.release()
            finally:
                self._nesting -= 1
        else:
            soon.append(functools.partial(_deliver, run, result))
        # Inside a pump, the actions are left to it: the run's step ends first.
        if soon or not self._pumping:
            self._loop(actions=not self._pumping)

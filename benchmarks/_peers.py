"""The peers: what users would pick instead, each set up to do the closest equivalent work.

Every builder takes the handlers per phase (three lists) and returns a
``fire(event)`` callable, or None when the peer is not installed (the peers
are the optional ``bench`` extra).  Peers without phases get one signal (or
event name) per phase that has handlers, fired in phase order; peers that cannot filter on
details are left out of the selective workload.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.base import _ThreePhaseEvent
from twisted.internet.defer import DeferredList, DeferredLock, maybeDeferred, succeed
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher

PHASES = ("before", "during", "after")
KEYWORDS = ("kind", "source", "target")

Handler = Callable[..., Any]
Fire = Callable[[Any], object]

# Column order of the report, with a short label for each peer.
PEERS: dict[str, str] = {
    "dispatcher": "this dispatcher",
    "floor": "plain loop",
    "original": "original design",
    "twisted": "Twisted 3-phase",
    "pyee": "pyee",
    "pyee_tw": "pyee Twisted",
    "blinker": "blinker",
    "psygnal": "psygnal",
    "pydispatcher": "PyDispatcher",
    "zope": "zope.event",
}


def installed(module: str) -> bool:
    """Whether the optional peer *module* can be imported."""
    return importlib.util.find_spec(module) is not None


OPTIONAL_MODULES = {
    "pyee": "pyee",
    "pyee_tw": "pyee",
    "blinker": "blinker",
    "psygnal": "psygnal",
    "pydispatcher": "pydispatch",
    "zope": "zope.event",
}


def available(peer: str) -> bool:
    """Whether *peer* can run here."""
    module = OPTIONAL_MODULES.get(peer)
    return module is None or installed(module)


# -- the dispatcher ------------------------------------------------------------------------


def new_dispatcher() -> EventDispatcher:
    """Return a started dispatcher on a Clock, with the three benchmark keywords."""
    dispatcher = EventDispatcher(KEYWORDS, reactor=Clock())
    dispatcher.start()
    return dispatcher


def dispatcher_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    dispatcher = new_dispatcher()
    for phase, handlers in zip(PHASES, per_phase, strict=True):
        for handler in handlers:
            dispatcher.add_event_handler(handler, phase)
    fire = dispatcher.fire_event

    def run(event: Any) -> object:
        return fire(event)

    run.dispatcher = dispatcher  # type: ignore[attr-defined]
    return run


def dispatcher_variant_fire(
    per_phase: Sequence[Sequence[Handler]], *, decorator: bool = False, cleanup: bool = False
) -> Fire:
    """The dispatcher with features of issue 11 present but unused in effect.

    *decorator*: every handler registered with ``@dispatcher.handler(phase,
    priority=0, before=None, after=None, pass_details=False)`` (the defaults,
    passed explicitly).  *cleanup*: the last phase is a cleanup phase
    (``always``), idle because no run aborts.
    """
    dispatcher = EventDispatcher(
        KEYWORDS, reactor=Clock(), always=(PHASES[-1],) if cleanup else ()
    )
    dispatcher.start()
    for phase, handlers in zip(PHASES, per_phase, strict=True):
        for handler in handlers:
            if decorator:
                dispatcher.handler(phase, priority=0, before=None, after=None, pass_details=False)(
                    handler
                )
            else:
                dispatcher.add_event_handler(handler, phase)
    fire = dispatcher.fire_event

    def run(event: Any) -> object:
        return fire(event)

    run.dispatcher = dispatcher  # type: ignore[attr-defined]
    return run


VARIANTS: dict[str, str] = {
    "plain": "plain registrations",
    "features": "decorator, priority=0 and before/after=None passed explicitly",
    "cleanup": "the last phase a cleanup phase (always=), idle",
}
"""The dispatcher with and without issue 11's features (unused in effect), for W1f and W5f."""

VARIANT_BUILDERS: dict[str, Callable[[Sequence[Sequence[Handler]]], Fire]] = {
    "plain": dispatcher_fire,
    "features": lambda per_phase: dispatcher_variant_fire(per_phase, decorator=True),
    "cleanup": lambda per_phase: dispatcher_variant_fire(per_phase, cleanup=True),
}


# -- the floor -----------------------------------------------------------------------------


def floor_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    handlers = [handler for phase in per_phase for handler in phase]

    def fire(event: Any) -> None:
        for handler in handlers:
            handler(event)

    return fire


# -- the original design -------------------------------------------------------------------


class OriginalDesign:
    """The original project's dispatch: per phase, maybeDeferred each handler, a DeferredList.

    Runs are serialised behind a DeferredLock, and handlers are matched by
    scanning every registration of the phase against the event's details.
    """

    def __init__(self) -> None:
        self.handlers: dict[str, dict[int, tuple[dict[str, Any], Handler]]] = {
            phase: {} for phase in PHASES
        }
        self.lock = DeferredLock()
        self._next_id = 0

    def add(self, handler: Handler, phase: str, **spec: Any) -> int:
        self._next_id += 1
        self.handlers[phase][self._next_id] = (spec, handler)
        return self._next_id

    def remove(self, handler_id: int, phase: str) -> None:
        del self.handlers[phase][handler_id]

    def fire(self, event: Any, **details: Any) -> Any:
        return self.lock.run(self._run, event, details)

    def _run(self, event: Any, details: dict[str, Any]) -> Any:
        d = succeed(None)
        for phase in PHASES:
            d.addCallback(self._phase, phase, event, details)
        return d

    def _phase(self, _: object, phase: str, event: Any, details: dict[str, Any]) -> Any:
        return DeferredList(
            [
                maybeDeferred(handler, event)
                for spec, handler in self.handlers[phase].values()
                if all(details.get(key) == value for key, value in spec.items())
            ]
        )


def original_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    original = OriginalDesign()
    for phase, handlers in zip(PHASES, per_phase, strict=True):
        for handler in handlers:
            original.add(handler, phase)
    return original.fire


# -- Twisted's system-event triggers -------------------------------------------------------


def twisted_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    # Triggers take their arguments when they are added, so the event is bound then.
    event_box: list[Any] = [None]
    three_phase = _ThreePhaseEvent()
    for phase, handlers in zip(PHASES, per_phase, strict=True):
        for handler in handlers:
            three_phase.addTrigger(phase, _boxed(handler, event_box))

    def fire(event: Any) -> None:
        event_box[0] = event
        three_phase.fireEvent()

    return fire


def _boxed(handler: Handler, box: list[Any]) -> Callable[[], Any]:
    def trigger() -> Any:
        return handler(box[0])

    return trigger


def _used(per_phase: Sequence[Sequence[Handler]]) -> list[str]:
    """The phases that have handlers: peers without phases fire one signal per used phase."""
    return [phase for phase, handlers in zip(PHASES, per_phase, strict=True) if handlers]


# -- pyee ----------------------------------------------------------------------------------


def _pyee_fire(per_phase: Sequence[Sequence[Handler]], *, twisted: bool) -> Fire:
    if twisted:
        from pyee.twisted import TwistedEventEmitter as Emitter
    else:
        from pyee import EventEmitter as Emitter
    emitter = Emitter()
    names = _used(per_phase)
    for phase, handlers in zip(PHASES, per_phase, strict=True):
        for handler in handlers:
            emitter.on(phase, handler)
    emit = emitter.emit

    def fire(event: Any) -> None:
        for name in names:
            emit(name, event)

    return fire


def pyee_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    return _pyee_fire(per_phase, twisted=False)


def pyee_tw_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    return _pyee_fire(per_phase, twisted=True)


# -- blinker, psygnal, PyDispatcher, zope.event --------------------------------------------


def blinker_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    from blinker import Signal

    sends = []
    for handlers in per_phase:
        if handlers:
            signal = Signal()
            for handler in handlers:
                signal.connect(handler)
            sends.append(signal.send)

    def fire(event: Any) -> None:
        for send in sends:
            send(None, event=event)

    fire.keep = per_phase  # type: ignore[attr-defined] # blinker holds receivers weakly
    return fire


def psygnal_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    from psygnal import SignalInstance

    emits = []
    for handlers in per_phase:
        if handlers:
            signal = SignalInstance((object,))
            for handler in handlers:
                signal.connect(handler)
            emits.append(signal.emit)

    def fire(event: Any) -> None:
        for emit in emits:
            emit(event)

    return fire


_pydispatcher_ids = iter(range(1 << 62))


def pydispatcher_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    from pydispatch import dispatcher

    # Its registry is global: a fresh signal per phase keeps cases apart.
    run = next(_pydispatcher_ids)
    names = [f"{phase}-{run}" for phase in _used(per_phase)]
    for name, handlers in zip(names, [hs for hs in per_phase if hs], strict=True):
        for handler in handlers:
            dispatcher.connect(handler, signal=name)
    send = dispatcher.send

    def fire(event: Any) -> None:
        for name in names:
            send(signal=name, event=event)

    fire.keep = per_phase  # type: ignore[attr-defined] # PyDispatcher holds receivers weakly
    return fire


def zope_fire(per_phase: Sequence[Sequence[Handler]]) -> Fire:
    import zope.event

    # One global subscriber list and no phases: the handlers go in phase order.
    handlers = [handler for phase in per_phase for handler in phase]
    notify = zope.event.notify

    def fire(event: Any) -> None:
        notify(event)

    def enter() -> None:
        zope.event.subscribers[:] = handlers

    def exit_() -> None:
        zope.event.subscribers[:] = []

    fire.enter = enter  # type: ignore[attr-defined]
    fire.exit = exit_  # type: ignore[attr-defined]
    return fire


BUILDERS: dict[str, Callable[[Sequence[Sequence[Handler]]], Fire]] = {
    "dispatcher": dispatcher_fire,
    "floor": floor_fire,
    "original": original_fire,
    "twisted": twisted_fire,
    "pyee": pyee_fire,
    "pyee_tw": pyee_tw_fire,
    "blinker": blinker_fire,
    "psygnal": psygnal_fire,
    "pydispatcher": pydispatcher_fire,
    "zope": zope_fire,
}

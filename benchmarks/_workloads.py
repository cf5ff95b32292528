"""The workloads W1 to W7: each builds its cases, measures them together, and returns figures."""

from __future__ import annotations

import gc
import io
import itertools
import logging
import sys
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from _harness import Case, Settings, measure, measure_batches
from _peers import (
    BUILDERS,
    PHASES,
    VARIANT_BUILDERS,
    VARIANTS,
    OriginalDesign,
    available,
    new_dispatcher,
)
from twisted.internet.base import _ThreePhaseEvent
from twisted.internet.defer import Deferred, succeed


class Event:
    """What the benchmark fires: a small object, as an application event would be."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number


EVENT = Event(1)


@dataclass
class Row:
    """One line of the report: median ns per operation (or another unit) per peer."""

    workload: str
    label: str
    times: dict[str, float]
    unit: str = "time"
    notes: list[str] = field(default_factory=list)


# -- handlers ------------------------------------------------------------------------------


def sync_handler() -> Callable[..., Any]:
    def handler(*args: Any, **kwargs: Any) -> None:
        return None

    return handler


def fired_handler() -> Callable[..., Any]:
    def handler(*args: Any, **kwargs: Any) -> Deferred[None]:
        return succeed(None)

    return handler


def later_handler(pending: deque[Deferred[None]]) -> Callable[..., Any]:
    def handler(*args: Any, **kwargs: Any) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        pending.append(d)
        return d

    return handler


def spread(handlers: list[Callable[..., Any]]) -> list[list[Callable[..., Any]]]:
    """Split *handlers* over the three phases, in order, as evenly as possible."""
    size = -(-len(handlers) // len(PHASES))
    return [handlers[i * size : (i + 1) * size] for i in range(len(PHASES))]


def _case(peer: str, fire: Callable[[Any], object], op: Callable[[], object]) -> Case:
    return Case(peer, op, getattr(fire, "enter", None), getattr(fire, "exit", None))


def dispatch_cases(make: Callable[[], list[list[Callable[..., Any]]]]) -> list[Case]:
    """One case per available peer, each firing EVENT at its own copy of the handlers."""
    cases = []
    for peer, build in BUILDERS.items():
        if not available(peer):
            continue
        per_phase = make()
        fire = build(per_phase)
        cases.append(_case(peer, fire, _bind(fire, per_phase)))
    return cases


def _bind(fire: Callable[[Any], object], handlers: object) -> Callable[[], object]:
    def op() -> object:
        return fire(EVENT)

    op.keep = (fire, handlers)  # type: ignore[attr-defined] # handlers may be held weakly
    return op


# -- W1, W2, W3, W5 ------------------------------------------------------------------------


def w1(settings: Settings) -> Row:
    times = measure(dispatch_cases(lambda: spread([sync_handler() for _ in range(30)])), settings)
    return Row("W1", "30 sync handlers, 3 phases", times)


def w2(settings: Settings) -> Row:
    times = measure(dispatch_cases(lambda: spread([fired_handler() for _ in range(30)])), settings)
    return Row("W2", "30 handlers returning fired Deferreds", times)


def w3(settings: Settings) -> Row:
    cases = []
    for peer, build in BUILDERS.items():
        if not available(peer):
            continue
        pending: deque[Deferred[None]] = deque()
        per_phase = spread([later_handler(pending) for _ in range(30)])
        fire = build(per_phase)
        cases.append(_case(peer, fire, _fire_then_settle(fire, pending, per_phase)))
    times = measure(cases, settings)
    return Row(
        "W3",
        "30 handlers returning Deferreds fired later",
        times,
        notes=[
            (
                "Only the dispatcher, the original design, Twisted (before phase) and "
                "pyee Twisted wait for the Deferreds; the others just call the handlers."
            )
        ],
    )


def _fire_then_settle(
    fire: Callable[[Any], object], pending: deque[Deferred[None]], handlers: object
) -> Callable[[], object]:
    def op() -> None:
        fire(EVENT)
        while pending:
            pending.popleft().callback(None)

    op.keep = handlers  # type: ignore[attr-defined]

    return op


def w5(settings: Settings) -> Row:
    times = measure(dispatch_cases(lambda: [[], [sync_handler()], []]), settings)
    return Row("W5", "1 catch-all handler, no details", times)


# -- W1f, W5f: issue 11's features present but unused --------------------------------------

HANDLERS_OF: dict[str, Callable[[], list[list[Callable[..., Any]]]]] = {
    "W1": lambda: spread([sync_handler() for _ in range(30)]),
    "W5": lambda: [[], [sync_handler()], []],
}
"""The handlers per phase of the workloads that W1f and W5f repeat."""

LABELS = {"W1": "30 sync handlers, 3 phases", "W5": "1 catch-all handler, no details"}


def variants(settings: Settings, workload: str) -> Row:
    """*workload* (W1 or W5) on the dispatcher with and without the features, side by side."""
    cases = []
    for name, build in VARIANT_BUILDERS.items():
        per_phase = HANDLERS_OF[workload]()
        cases.append(Case(name, _bind(build(per_phase), per_phase)))
    times = measure(cases, settings)
    return Row(
        f"{workload}f",
        f"{LABELS[workload]}",
        times,
        unit="variants",
        notes=[f"{workload}f {name}: {what}" for name, what in VARIANTS.items()],
    )


def count_op(workload: str, case: str) -> Callable[[], object]:
    """The operation the callgrind child fires: *workload* for *case* (a peer, a variant, json).

    Whatever the case needs set up globally (JSON tracing) is set up here and
    left on: the child process does nothing else.
    """
    if workload == "W3":
        pending: deque[Deferred[None]] = deque()
        per_phase = spread([later_handler(pending) for _ in range(30)])
        return _fire_then_settle(BUILDERS[case](per_phase), pending, per_phase)
    if workload == "W7":
        if case != "json":
            raise ValueError(f"W7 is counted with JSON tracing on only; got {case!r}")
        per_phase = HANDLERS_OF["W1"]()
        op = _bind(BUILDERS["dispatcher"](per_phase), per_phase)
        JsonTracing().enter()
        return op
    per_phase = HANDLERS_OF[workload]()
    build = VARIANT_BUILDERS.get(case) or BUILDERS[case]
    return _bind(build(per_phase), per_phase)


# -- W4: selective dispatch ----------------------------------------------------------------

SELECTIVE_PEERS = ("dispatcher", "floor", "original", "pyee", "pyee_tw", "blinker", "pydispatcher")


def w4(settings: Settings, n: int) -> Row:
    """1 matching handler among *n*: each peer filters the way it can."""
    match = sync_handler()
    other = sync_handler()
    hit = n // 2
    handlers = [match if i == hit else other for i in range(n)]
    cases = [
        Case(peer, _SELECTIVE[peer](handlers, hit)) for peer in SELECTIVE_PEERS if available(peer)
    ]
    times = measure(cases, settings)
    return Row("W4", f"selective, N = {n:,}", times)


def _w4_dispatcher(handlers: list[Callable[..., Any]], hit: int) -> Callable[[], object]:
    dispatcher = new_dispatcher()
    add = dispatcher.add_event_handler
    for i, handler in enumerate(handlers):
        add(handler, "during", kind="k", source="s", target=i)
    fire = dispatcher.fire_event

    def op() -> object:
        return fire(EVENT, kind="k", source="s", target=hit)

    op.keep = handlers  # type: ignore[attr-defined]
    return op


def _w4_floor(handlers: list[Callable[..., Any]], hit: int) -> Callable[[], object]:
    table = {("k", "s", i): handler for i, handler in enumerate(handlers)}

    def op() -> object:
        return table["k", "s", hit](EVENT)

    return op


def _w4_original(handlers: list[Callable[..., Any]], hit: int) -> Callable[[], object]:
    original = OriginalDesign()
    for i, handler in enumerate(handlers):
        original.add(handler, "during", kind="k", source="s", target=i)
    fire = original.fire

    def op() -> object:
        return fire(EVENT, kind="k", source="s", target=hit)

    return op


def _w4_pyee(twisted: bool) -> Callable[..., Callable[[], object]]:
    def build(handlers: list[Callable[..., Any]], hit: int) -> Callable[[], object]:
        if twisted:
            from pyee.twisted import TwistedEventEmitter as Emitter
        else:
            from pyee import EventEmitter as Emitter
        emitter = Emitter()
        for i, handler in enumerate(handlers):
            emitter.on(f"k.s.{i}", handler)
        emit = emitter.emit
        name = f"k.s.{hit}"

        def op() -> object:
            return emit(name, EVENT)

        return op

    return build


def _w4_blinker(handlers: list[Callable[..., Any]], hit: int) -> Callable[[], object]:
    from blinker import Signal

    signal = Signal()
    senders = [object() for _ in handlers]
    for sender, handler in zip(senders, handlers, strict=True):
        signal.connect(handler, sender=sender)
    send = signal.send
    sender = senders[hit]

    def op() -> object:
        return send(sender, event=EVENT)

    op.keep = (senders, handlers)  # type: ignore[attr-defined]
    return op


def _w4_pydispatcher(handlers: list[Callable[..., Any]], hit: int) -> Callable[[], object]:
    from pydispatch import dispatcher

    name = f"w4-{len(handlers)}"
    senders = [object() for _ in handlers]
    for sender, handler in zip(senders, handlers, strict=True):
        dispatcher.connect(handler, signal=name, sender=sender)
    send = dispatcher.send
    sender = senders[hit]

    def op() -> object:
        return send(signal=name, sender=sender, event=EVENT)

    op.keep = (senders, handlers)  # type: ignore[attr-defined]
    return op


_SELECTIVE: dict[str, Callable[[list[Callable[..., Any]], int], Callable[[], object]]] = {
    "dispatcher": _w4_dispatcher,
    "floor": _w4_floor,
    "original": _w4_original,
    "pyee": _w4_pyee(twisted=False),
    "pyee_tw": _w4_pyee(twisted=True),
    "blinker": _w4_blinker,
    "pydispatcher": _w4_pydispatcher,
}


def w4_uncached(settings: Settings, sizes: tuple[int, ...]) -> Row:
    """The dispatcher alone, with details that never repeat (its match cache always misses)."""
    cases = []
    for n in sizes:
        dispatcher = new_dispatcher()
        match = sync_handler()
        other = sync_handler()
        dispatcher.add_event_handler(match, "during", kind="k", source="s")
        for i in range(n - 1):
            dispatcher.add_event_handler(other, "during", kind="x", source="s", target=i)
        targets = itertools.cycle(range(4096))  # more than the match cache holds
        op = _w4_uncached_op(dispatcher.fire_event, targets, (match, other))
        cases.append(Case(f"N = {n:,}", op))
    times = measure(cases, settings)
    return Row("W4u", "selective, details never repeat", times, unit="sizes")


def _w4_uncached_op(
    fire: Callable[..., object], targets: Iterator[int], keep: object
) -> Callable[[], object]:
    def op() -> object:
        return fire(EVENT, kind="k", source="s", target=next(targets))

    op.keep = keep  # type: ignore[attr-defined]
    return op


# -- W6: registration and memory -----------------------------------------------------------


def _dispatcher_batch(n: int) -> tuple[int, int]:
    dispatcher = new_dispatcher()
    add = dispatcher.add_event_handler
    remove = dispatcher.remove_event_handler
    handler = _W6_HANDLER
    ids = [0] * n
    start = time.perf_counter_ns()
    for i in range(n):
        ids[i] = add(handler, "during", target=i).result
    middle = time.perf_counter_ns()
    for handler_id in ids:
        remove(handler_id)
    return middle - start, time.perf_counter_ns() - middle


_W6_HANDLER = sync_handler()


def _floor_batch(n: int) -> tuple[int, int]:
    table: dict[int, Callable[..., Any]] = {}
    handler = _W6_HANDLER
    start = time.perf_counter_ns()
    for i in range(n):
        table[i] = handler
    middle = time.perf_counter_ns()
    for i in range(n):
        del table[i]
    return middle - start, time.perf_counter_ns() - middle


def _original_batch(n: int) -> tuple[int, int]:
    original = OriginalDesign()
    handler = _W6_HANDLER
    ids = [0] * n
    start = time.perf_counter_ns()
    for i in range(n):
        ids[i] = original.add(handler, "during", target=i)
    middle = time.perf_counter_ns()
    for handler_id in ids:
        original.remove(handler_id, "during")
    return middle - start, time.perf_counter_ns() - middle


def _twisted_batch(n: int) -> tuple[int, int]:
    three_phase = _ThreePhaseEvent()
    handler = _W6_HANDLER
    handles: list[Any] = [None] * n
    start = time.perf_counter_ns()
    for i in range(n):
        handles[i] = three_phase.addTrigger("during", handler, i)
    middle = time.perf_counter_ns()
    for handle in handles:
        three_phase.removeTrigger(handle)
    return middle - start, time.perf_counter_ns() - middle


def _pyee_batch(n: int, *, twisted: bool = False) -> tuple[int, int]:
    if twisted:
        from pyee.twisted import TwistedEventEmitter as Emitter
    else:
        from pyee import EventEmitter as Emitter
    emitter = Emitter()
    handler = _W6_HANDLER
    names = [f"target.{i}" for i in range(n)]
    on = emitter.on
    remove = emitter.remove_listener
    start = time.perf_counter_ns()
    for name in names:
        on(name, handler)
    middle = time.perf_counter_ns()
    for name in names:
        remove(name, handler)
    return middle - start, time.perf_counter_ns() - middle


def _blinker_batch(n: int) -> tuple[int, int]:
    from blinker import Signal

    signal = Signal()
    handler = _W6_HANDLER
    senders = [object() for _ in range(n)]
    connect = signal.connect
    disconnect = signal.disconnect
    start = time.perf_counter_ns()
    for sender in senders:
        connect(handler, sender=sender)
    middle = time.perf_counter_ns()
    for sender in senders:
        disconnect(handler, sender=sender)
    return middle - start, time.perf_counter_ns() - middle


def _psygnal_batch(n: int) -> tuple[int, int]:
    from psygnal import SignalInstance

    signal = SignalInstance((object,))
    handlers = [sync_handler() for _ in range(n)]
    connect = signal.connect
    disconnect = signal.disconnect
    start = time.perf_counter_ns()
    for handler in handlers:
        connect(handler)
    middle = time.perf_counter_ns()
    for handler in handlers:
        disconnect(handler)
    return middle - start, time.perf_counter_ns() - middle


def _pydispatcher_batch(n: int) -> tuple[int, int]:
    from pydispatch import dispatcher

    handler = _W6_HANDLER
    names = [f"w6.{i}" for i in range(n)]
    connect = dispatcher.connect
    disconnect = dispatcher.disconnect
    start = time.perf_counter_ns()
    for name in names:
        connect(handler, signal=name)
    middle = time.perf_counter_ns()
    for name in names:
        disconnect(handler, signal=name)
    return middle - start, time.perf_counter_ns() - middle


def _zope_batch(n: int) -> tuple[int, int]:
    import zope.event

    subscribers = zope.event.subscribers
    handlers = [sync_handler() for _ in range(n)]
    start = time.perf_counter_ns()
    for handler in handlers:
        subscribers.append(handler)
    middle = time.perf_counter_ns()
    for handler in handlers:
        subscribers.remove(handler)
    return middle - start, time.perf_counter_ns() - middle


BATCHES: dict[str, Callable[[int], tuple[int, int]]] = {
    "dispatcher": _dispatcher_batch,
    "floor": _floor_batch,
    "original": _original_batch,
    "twisted": _twisted_batch,
    "pyee": _pyee_batch,
    "pyee_tw": lambda n: _pyee_batch(n, twisted=True),
    "blinker": _blinker_batch,
    "psygnal": _psygnal_batch,
    "pydispatcher": _pydispatcher_batch,
    "zope": _zope_batch,
}


def w6(rounds: int, n: int) -> tuple[Row, Row]:
    """Register then remove *n* handlers: time per handler, and registrations per second."""
    batches = [(peer, _sized(batch, n)) for peer, batch in BATCHES.items() if available(peer)]
    medians = measure_batches(batches, rounds)
    total = Row(
        "W6",
        f"register + remove {n:,} handlers (per handler)",
        {peer: (add + remove) / n for peer, (add, remove) in medians.items()},
        notes=[
            (
                "psygnal, zope.event and Twisted keep handlers in lists: each removal "
                "shifts the list, so removing many is quadratic."
            ),
        ],
    )
    rate = Row(
        "W6r",
        f"registration rate at {n:,} (handlers/s)",
        {peer: n / (add / 1e9) for peer, (add, _) in medians.items()},
        unit="rate",
    )
    return total, rate


def _sized(batch: Callable[[int], tuple[int, int]], n: int) -> Callable[[], tuple[int, int]]:
    return lambda: batch(n)


def w6_memory(n: int) -> Row:
    """Bytes allocated per registered handler, measured with tracemalloc at *n* handlers."""
    return Row(
        "W6m",
        f"memory per registered handler at {n:,}",
        {peer: float(per) for peer in BATCHES if available(peer) if (per := _memory(peer, n))},
        unit="bytes",
    )


def _memory(peer: str, n: int) -> float:  # noqa: C901, PLR0912, PLR0915 -- one branch per peer
    handler = _W6_HANDLER
    handlers = [sync_handler() for _ in range(n)] if peer in {"psygnal", "zope"} else []
    names = [f"target.{i}" for i in range(n)]
    senders = [object() for _ in range(n)]
    ids: list[Any] = [None] * n
    keep: list[Any] = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        if peer == "dispatcher":
            dispatcher = new_dispatcher()
            keep.append(dispatcher)
            # The dispatcher itself is not per handler: measure from after it exists.
            before = tracemalloc.get_traced_memory()[0]
            add = dispatcher.add_event_handler
            for i in range(n):
                ids[i] = add(handler, "during", target=i).result
        elif peer == "floor":
            table: dict[int, Any] = {}
            keep.append(table)
            for i in range(n):
                table[i] = handler
        elif peer == "original":
            original = OriginalDesign()
            keep.append(original)
            for i in range(n):
                ids[i] = original.add(handler, "during", target=i)
        elif peer == "twisted":
            three_phase = _ThreePhaseEvent()
            keep.append(three_phase)
            for i in range(n):
                ids[i] = three_phase.addTrigger("during", handler, i)
        elif peer in {"pyee", "pyee_tw"}:
            from pyee import EventEmitter
            from pyee.twisted import TwistedEventEmitter

            emitter = TwistedEventEmitter() if peer == "pyee_tw" else EventEmitter()
            keep.append(emitter)
            for name in names:
                emitter.on(name, handler)
        elif peer == "blinker":
            from blinker import Signal

            signal = Signal()
            keep.append(signal)
            for sender in senders:
                signal.connect(handler, sender=sender)
        elif peer == "psygnal":
            from psygnal import SignalInstance

            psignal = SignalInstance((object,))
            keep.append(psignal)
            for each in handlers:
                psignal.connect(each)
        elif peer == "pydispatcher":
            from pydispatch import dispatcher as pyd

            for name in names:
                pyd.connect(handler, signal=name)
            keep.append(lambda: [pyd.disconnect(handler, signal=name) for name in names])
        elif peer == "zope":
            subscribers: list[Any] = []
            keep.append(subscribers)
            subscribers.extend(handlers)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    if peer == "pydispatcher":
        keep[-1]()
    return used / n


# -- W7: tracing ---------------------------------------------------------------------------


class NullLogger:
    """A logger whose every call does nothing: the dispatcher "with structlog calls removed"."""

    def bind(self, **_: Any) -> NullLogger:
        return self

    def is_enabled_for(self, _level: int) -> bool:
        return False

    def debug(self, *_: Any, **__: Any) -> None:
        return None

    info = warning = error = exception = critical = msg = debug


_NULL = NullLogger()


def _null_get_logger() -> NullLogger:
    return _NULL


class StructlogRemoved:
    """Swap every runtime module's ``get_logger`` for one that returns :class:`NullLogger`.

    Reusable: enter and exit it around every sample.
    """

    def __init__(self) -> None:
        from twisted_event_dispatcher.tracing import _logger

        self.original = _logger.get_logger
        self.patched: list[Any] = []

    def __enter__(self) -> None:
        for name, module in list(sys.modules.items()):
            if name.startswith("twisted_event_dispatcher") and (
                getattr(module, "get_logger", None) is self.original
            ):
                module.get_logger = _null_get_logger
                self.patched.append(module)

    def __exit__(self, *_: object) -> None:
        for module in self.patched:
            module.get_logger = self.original
        self.patched.clear()


_SINK = io.StringIO()


def _configure_structlog(level: int) -> None:
    """Configure structlog to render JSON lines into an in-memory sink, at *level* and above."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(_SINK),
    )


def _reset_structlog() -> None:
    structlog.reset_defaults()
    _SINK.seek(0)
    _SINK.truncate()


def _configure_at(level: int) -> Callable[[], object]:
    return lambda: _configure_structlog(level)


def _find_configure_tracing() -> Callable[..., Any] | None:
    from twisted_event_dispatcher import tracing

    found = getattr(tracing, "configure_tracing", None)
    if found is None:
        try:
            from twisted_event_dispatcher.tracing._configure import configure_tracing as found
        except ImportError:
            return None
    return found  # type: ignore[no-any-return]


class JsonTracing:
    """The package's ``configure_tracing`` into an in-memory sink, or structlog's JSONRenderer."""

    def __init__(self) -> None:
        self.configure = _find_configure_tracing()
        self.handle: Any = None
        self.how = (
            "the package's configure_tracing (JSON lines, level DEBUG) into an in-memory sink"
            if self.configure is not None
            else "structlog.configure with JSONRenderer at DEBUG into an in-memory sink "
            "(configure_tracing was not available)"
        )

    def enter(self) -> None:
        if self.configure is not None:
            self.handle = self.configure(_SINK, level=logging.DEBUG)
        else:
            _configure_structlog(logging.DEBUG)

    def exit(self) -> None:
        if self.handle is not None:
            self.handle.stop()
            self.handle = None
        _reset_structlog()


W7_CASES = {
    "removed": "structlog calls removed (stub logger)",
    "filtered": "structlog configured at INFO (debug filtered out)",
    "default": "structlog unconfigured (the default)",
    "json": "JSON tracing on (every debug record)",
}


def w7(settings: Settings) -> tuple[Row, str]:
    """W1's work under each tracing set-up."""
    handlers = [spread([sync_handler() for _ in range(30)]) for _ in range(4)]
    removed_patch = StructlogRemoved()
    with removed_patch:  # the lifecycle machine takes its logger when it is built
        removed = BUILDERS["dispatcher"](handlers[0])
    filtered, default, json_on = (BUILDERS["dispatcher"](each) for each in handlers[1:])
    json_tracing = JsonTracing()
    cases = [
        Case("removed", _bind(removed, handlers), removed_patch.__enter__, removed_patch.__exit__),
        Case("filtered", _bind(filtered, handlers), _configure_at(logging.INFO), _reset_structlog),
        Case("default", _bind(default, handlers)),
        Case("json", _bind(json_on, handlers), json_tracing.enter, json_tracing.exit),
    ]
    times = measure(cases, settings)
    return Row("W7", "W1 under each tracing set-up", times, unit="tracing"), json_tracing.how

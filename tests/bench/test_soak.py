"""Scale and soak: a million events leave nothing behind, and collected weak handlers vanish."""

from __future__ import annotations

import gc
import sys
from collections import Counter, deque
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher, EventRun, HandlerCollectedWarning

pytestmark = [pytest.mark.soak, pytest.mark.usefixtures("quiet_structlog")]

EVENTS = 1_000_000
BATCH = 1_000
TRACKED = (
    "RunCore",
    "PhaseRun",
    "PendingCall",
    "EventRun",
    "HandlerOutcome",
    "Deferred",
    "Failure",
)


def _live(names: tuple[str, ...]) -> Counter[str]:
    gc.collect()
    return Counter(type(obj).__name__ for obj in gc.get_objects() if type(obj).__name__ in names)


class _Handlers:
    """Sync, Deferred-returning and failing handlers; the Deferreds wait to be fired by hand."""

    def __init__(self) -> None:
        self.pending: deque[Deferred[None]] = deque()
        self.calls = 0
        self.errbacks = 0

    def sync(self, event: object) -> int:
        self.calls += 1
        return self.calls

    def later(self, event: object) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.pending.append(d)
        return d

    def failing(self, event: object) -> None:
        raise ValueError("this handler always fails")

    def settle(self) -> None:
        """Fire every pending Deferred: every third fails, the others succeed."""
        count = 0
        while self.pending:
            d = self.pending.popleft()
            count += 1
            if count % 3:
                d.callback(None)
            else:
                self.errbacks += 1
                d.errback(RuntimeError("a Deferred handler failed"))


def _fire_batches(dispatcher: EventDispatcher, handlers: _Handlers, events: int) -> Counter[str]:
    statuses: Counter[str] = Counter()
    failures: Counter[int] = Counter()

    def ended(run: EventRun) -> None:
        statuses[run.status] += 1
        failures[len(run.failures)] += 1

    fire = dispatcher.fire_event
    for start in range(0, events, BATCH):
        for number in range(start, start + BATCH):
            fire(number, kind=number % 10).addCallback(ended)
        handlers.settle()
    statuses["with failures"] = events - failures[0]
    return statuses


def _dispatcher(handlers: _Handlers) -> EventDispatcher:
    dispatcher = EventDispatcher(("kind",), reactor=Clock())
    dispatcher.start()
    dispatcher.add_event_handler(handlers.sync, "before")
    for kind in range(7):
        dispatcher.add_event_handler(handlers.sync, "during", kind=kind)
    dispatcher.add_event_handler(handlers.later, "during", kind=7)
    dispatcher.add_event_handler(handlers.later, "after", kind=8)
    dispatcher.add_event_handler(handlers.failing, "after", kind=9)
    return dispatcher


def test_a_million_events_leave_memory_as_it_was() -> None:
    """After a million runs of sync, Deferred and failing handlers, nothing is left behind.

    No run object stays alive, and the allocated memory blocks are back within 10%.
    """
    handlers = _Handlers()
    dispatcher = _dispatcher(handlers)
    _fire_batches(dispatcher, handlers, 10 * BATCH)  # warm caches, interned strings, free lists
    live_before = _live(TRACKED)
    blocks_before = sys.getallocatedblocks()
    errbacks_before = handlers.errbacks

    statuses = _fire_batches(dispatcher, handlers, EVENTS)

    assert statuses["completed"] == EVENTS
    assert statuses["with failures"] == EVENTS // 10 + handlers.errbacks - errbacks_before
    assert not handlers.pending
    assert len(dispatcher.handlers()) == 11  # as registered by _dispatcher()
    core: Any = dispatcher._lifecycle_core
    assert not core.in_flight
    assert not core.backlog
    assert _live(TRACKED) == live_before
    blocks_after = sys.getallocatedblocks()
    assert blocks_after <= blocks_before * 1.1, (blocks_before, blocks_after)


class _Owner:
    """Owns a handler method; registering the bound method holds the owner weakly."""

    def handle(self, event: object) -> None:
        return None


def test_collected_owners_leave_registry_and_index_empty() -> None:
    """When the owners of 100,000 weak handlers are all collected, registry and index end empty."""
    dispatcher = EventDispatcher(("kind", "target"), reactor=Clock())
    dispatcher.start()
    owners = [_Owner() for _ in range(100_000)]
    for number, owner in enumerate(owners):
        spec: dict[str, Any] = [{}, {"target": number}, {"kind": number % 10}][number % 3]
        dispatcher.add_event_handler(owner.handle, "during", **spec)
    assert len(dispatcher.handlers()) == 100_000
    assert dispatcher._registry.shape_count == 3

    del owners, owner
    gc.collect()

    with pytest.warns(HandlerCollectedWarning) as caught:
        assert len(dispatcher.handlers()) == 0
    [warning] = caught  # one warning for all of them, not one each
    assert str(warning.message).startswith("100000 handlers were collected before")
    assert str(warning.message).endswith("and 99995 more")
    assert dispatcher._registry.shape_count == 0
    assert dispatcher.matching_handlers(kind=1, target=4) == {
        phase: [] for phase in dispatcher.phases
    }

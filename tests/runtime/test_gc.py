"""A run that has ended leaves nothing of the library's for the cyclic garbage collector.

Runs are freed by reference counting alone: with the collector disabled, many
runs of every kind leave no objects of ``twisted_event_dispatcher``'s types
in reference cycles.
"""

from __future__ import annotations

import collections
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from twisted_event_dispatcher import AbortRun, EventDispatcher, EventRun, current_call


@pytest.fixture
def collector_off() -> Iterator[Callable[[], collections.Counter[str]]]:
    """Disable the collector; give a function that collects and counts the library's garbage."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    flags = gc.get_debug()

    def library_garbage() -> collections.Counter[str]:
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            return collections.Counter(
                f"{type(obj).__module__}.{type(obj).__qualname__}"
                for obj in gc.garbage
                if type(obj).__module__.startswith("twisted_event_dispatcher")
            )
        finally:
            gc.set_debug(flags)
            gc.garbage.clear()

    try:
        yield library_garbage
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()


class _Handlers:
    """Handlers of every kind; the Deferreds they return wait in :attr:`pending`."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self.dispatcher = dispatcher
        self.pending: list[Deferred[Any]] = []
        self.runs: list[Deferred[EventRun]] = []

    def sync(self, event: Any) -> None:
        if event == "fail":
            raise ValueError("boom")
        if event == "veto":
            raise AbortRun("no")

    def later(self, event: Any) -> Deferred[None] | None:
        if event in ("sync", "child"):
            return None
        d: Deferred[None] = Deferred()
        self.pending.append(d)
        return d

    def fired(self, event: Any) -> Deferred[str]:
        return succeed("done")

    async def awaiting(self, event: Any) -> None:
        if event == "await":
            d: Deferred[None] = Deferred()
            self.pending.append(d)
            await d

    def parent(self, event: Any) -> Deferred[EventRun] | None:
        if event == "child":
            return self.dispatcher.fire_event("sync")
        return None

    def canceller(self, event: Any) -> None:
        call = current_call()
        assert call is not None
        if event == "self-cancel" and call.ending is None:
            self.runs[-1].cancel()  # its own run: fired earlier, and waited for "during"


def _settle(handlers: _Handlers, *, fail: bool = False) -> None:
    while handlers.pending:
        d = handlers.pending.pop()
        if fail:
            d.errback(RuntimeError("late"))
        else:
            d.callback(None)


def _fire_every_kind(dispatcher: EventDispatcher, clock: Clock, handlers: _Handlers) -> None:
    runs = handlers.runs
    for event in ("sync", "child", "fail", "veto", "await"):
        runs.append(dispatcher.fire_event(event))
        _settle(handlers)
    runs.append(dispatcher.fire_event("x"))
    _settle(handlers, fail=True)
    runs.append(dispatcher.fire_event("x"))
    runs[-1].cancel()  # cancelled while its handlers' Deferreds wait
    _settle(handlers)
    runs.append(dispatcher.fire_event("self-cancel"))
    _settle(handlers)
    _settle(handlers)
    runs.append(dispatcher.fire_event("x"))
    clock.advance(5)  # the handler timeout runs out
    clock.advance(5)
    _settle(handlers)
    # Serial runs waiting their turn, one of them cancelled before it begins.
    runs.append(dispatcher.fire_event("x"))
    runs.append(dispatcher.fire_event("x"))
    runs.append(dispatcher.fire_event("x"))
    runs[-1].cancel()
    _settle(handlers)
    _settle(handlers)
    # A stop that times out cancels the run in flight; fired while stopping, runs are dropped.
    runs.append(dispatcher.fire_event("x"))
    dispatcher.stop(timeout=1)
    runs.append(dispatcher.fire_event("x"))
    clock.advance(1)
    clock.advance(1)
    clock.advance(10)
    _settle(handlers)
    dispatcher.start()
    for run in runs:
        assert run.called
    runs.clear()


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"on_handler_error": "abort"},
        {"always": ("after",), "on_handler_error": "abort"},
    ],
    ids=["continue", "abort", "cleanup-phase"],
)
def test_runs_leave_no_cycles(
    collector_off: Callable[[], collections.Counter[str]], options: dict[str, Any]
) -> None:
    """Sync, Deferred, failing, vetoed, cancelled, timed-out, queued, dropped runs: no cycles."""
    clock = Clock()
    dispatcher = EventDispatcher((), reactor=clock, handler_timeout=5, **options)
    dispatcher.start()
    handlers = _Handlers(dispatcher)
    for handler, phase in (
        (handlers.parent, "before"),
        (handlers.sync, "before"),
        (handlers.fired, "before"),
        (handlers.later, "during"),
        (handlers.awaiting, "during"),
        (handlers.sync, "after"),
        (handlers.canceller, "after"),
        (handlers.later, "after"),
    ):
        dispatcher.add_event_handler(handler, phase)
    _fire_every_kind(dispatcher, clock, handlers)  # warm up: caches, first-use imports
    assert collector_off() == collections.Counter()
    for _ in range(20):
        _fire_every_kind(dispatcher, clock, handlers)
    assert collector_off() == collections.Counter()

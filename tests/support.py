"""Helpers shared by the runtime tests: a dispatcher on a Clock, and handlers that record."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_event_dispatcher import (
    EventDispatcher,
    EventRun,
    HandlerCollectedWarning,
    HandlerId,
)
from twisted_event_dispatcher.testing import dispatcher_on_clock, result_of

__all__ = [
    "Recorder",
    "TestCase",
    "add",
    "collected_warnings",
    "fire",
    "result_of",
    "started",
]


def started(*keywords: str, **options: Any) -> tuple[EventDispatcher, Clock]:
    """Return a started dispatcher allowing *keywords*, driven by a fresh Clock."""
    return dispatcher_on_clock(keywords, **options)


class Recorder:
    """Makes handlers that append ``(name, event)`` to :attr:`calls` and keeps them alive."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.pending: dict[str, list[Deferred[Any]]] = {}
        self._keep: list[Callable[[Any], Any]] = []

    def names(self) -> list[str]:
        """Return the handler names in call order."""
        return [name for name, _ in self.calls]

    def sync(self, name: str, result: Any = None) -> Callable[[Any], Any]:
        """Return a handler that records its call and returns *result*."""

        def handler(event: Any) -> Any:
            self.calls.append((name, event))
            return result

        handler.__qualname__ = name
        self._keep.append(handler)
        return handler

    def deferred(self, name: str) -> Callable[[Any], Deferred[Any]]:
        """Return a handler that records its call and returns a new, unfired Deferred."""

        def handler(event: Any) -> Deferred[Any]:
            self.calls.append((name, event))
            d: Deferred[Any] = Deferred()
            self.pending.setdefault(name, []).append(d)
            return d

        handler.__qualname__ = name
        self._keep.append(handler)
        return handler

    def failing(self, name: str, error: BaseException) -> Callable[[Any], Any]:
        """Return a handler that records its call and raises *error*."""

        def handler(event: Any) -> Any:
            self.calls.append((name, event))
            raise error

        handler.__qualname__ = name
        self._keep.append(handler)
        return handler


def add(
    dispatcher: EventDispatcher, handler: Callable[[Any], Any], phase: str, **spec: Any
) -> HandlerId:
    """Register *handler* and return its id (the Deferred is already fired)."""
    handler_id: HandlerId = result_of(dispatcher.add_event_handler(handler, phase, **spec))
    return handler_id


def fire(dispatcher: EventDispatcher, event: Any = "event", **details: Any) -> Deferred[EventRun]:
    """Fire *event* and return the run's Deferred."""
    return dispatcher.fire_event(event, **details)


@contextlib.contextmanager
def collected_warnings(*, expected: bool) -> Iterator[None]:
    """Assert that the block issues one HandlerCollectedWarning if *expected*, else none."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    got = [warning.category for warning in caught]
    assert got == ([HandlerCollectedWarning] if expected else []), got


class TestCase(SynchronousTestCase):
    """trial's SynchronousTestCase, with annotations for the helpers Twisted leaves untyped."""

    def assertNoResult(self, deferred: Deferred[Any]) -> None:
        """Assert that *deferred* has not fired."""
        super().assertNoResult(deferred)  # type: ignore[no-untyped-call]

    def failureResultOf(self, deferred: Deferred[Any], *expected: type[BaseException]) -> Failure:
        """Return the failure *deferred* has fired with, checking it is of an *expected* type."""
        failure: Failure = super().failureResultOf(  # type: ignore[no-untyped-call]
            deferred, *expected
        )
        return failure

    def flushLoggedErrors(self, *errors: type[BaseException]) -> list[Failure]:
        """Flush and return the errors logged so far (trial's name)."""
        flushed: list[Failure] = super().flushLoggedErrors(*errors)  # type: ignore[no-untyped-call]
        return flushed

"""Running a scenario on the real reactor, which crochet runs in a thread of its own."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import crochet
import pytest
from twisted.internet import reactor as _global_reactor
from twisted.internet import task
from twisted.internet.defer import Deferred, ensureDeferred

__all__ = ["in_reactor", "reactor", "sleep", "until"]

reactor: Any = _global_reactor
_T = TypeVar("_T")


def in_reactor(scenario: Callable[[], Coroutine[Any, Any, _T]], timeout: float = 30.0) -> _T:
    """Run *scenario* in crochet's reactor thread and return its result here."""
    crochet.setup()

    def start() -> Deferred[_T]:
        return ensureDeferred(scenario())

    return cast("_T", crochet.wait_for(timeout=timeout)(start)())


async def sleep(seconds: float) -> None:
    """Wait *seconds* on the real reactor."""
    await task.deferLater(reactor, seconds, lambda: None)


async def until(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    """Poll *condition* on the reactor until it holds; fail after *within* seconds."""
    waited = 0.0
    while not condition():
        if waited > within:
            pytest.fail(f"condition not met within {within} seconds")
        await sleep(0.02)
        waited += 0.02

"""Chains of child runs, each awaited by its parent's handler, work at any depth.

Each level of such a chain nests calls on the stack: a handler fires its child,
whose handler fires its child, and so on down; when the deepest run ends, each
parent's handler resumes inside the callbacks of its child's Deferred, and so on
up.  The dispatcher bounds that nesting, so Python's recursion limit is never
the limit of a chain.
"""

from __future__ import annotations

import contextvars
import sys
from typing import Any

import pytest
import structlog
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater

from support import TestCase, add, fire, started
from twisted_event_dispatcher import EventDispatcher, EventRun

DEPTH = 300
"""Deeper than Python's default recursion limit allows at a dozen frames per level."""


def _chain(dispatcher: EventDispatcher, leaf: Any) -> list[EventRun]:
    """Register a coroutine handler that fires level + 1 and awaits it, down to DEPTH."""
    ended: list[EventRun] = []

    async def level(event: int) -> Any:
        if event == DEPTH:
            return await leaf(event)
        child = await dispatcher.fire_event(event + 1)
        ended.append(child)
        return child.outcomes[0].result

    dispatcher.add_event_handler(level, "during", use_weakref=False)
    return ended


@pytest.fixture(autouse=True)
def _default_recursion_limit() -> Any:
    """Run each test at Python's default recursion limit, whatever the runner set."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(previous)


class DeepChainTests(TestCase):
    """Every run of a chain deeper than the recursion limit allows ends, with its result."""

    def test_chain_with_a_pending_leaf(self) -> None:
        """A 300-level chain whose deepest handler waits on the clock completes, every run."""
        dispatcher, clock = started()

        async def leaf(event: int) -> str:
            await deferLater(clock, 1)
            return "leaf"

        ended = _chain(dispatcher, leaf)
        with structlog.testing.capture_logs() as logs:
            root = fire(dispatcher, 0)
            self.assertNoResult(root)
            clock.advance(1)
            run = self.successResultOf(root)
        assert [r.event for r in ended] == list(range(DEPTH, 0, -1))
        assert {r.status for r in ended} == {"completed"}
        assert (run.status, run.outcomes[0].status, run.outcomes[0].result) == (
            "completed",
            "succeeded",
            "leaf",
        )
        assert [log for log in logs if log["log_level"] in {"error", "critical"}] == []
        self.successResultOf(dispatcher.stop())

    def test_chain_of_synchronous_leaves(self) -> None:
        """A 300-level chain whose deepest handler returns at once completes before firing ends."""
        dispatcher, _ = started()

        async def leaf(event: int) -> str:
            return "leaf"

        ended = _chain(dispatcher, leaf)
        run = self.successResultOf(fire(dispatcher, 0))
        assert len(ended) == DEPTH
        assert (run.status, run.outcomes[0].result) == ("completed", "leaf")
        self.successResultOf(dispatcher.stop())

    def test_context_is_carried_down_the_chain(self) -> None:
        """Each handler of a 300-level chain sees the context variables its parent set."""
        dispatcher, _ = started()
        level_var: contextvars.ContextVar[int] = contextvars.ContextVar("level")
        seen: list[tuple[int, int | None]] = []

        async def level(event: int) -> None:
            seen.append((event, level_var.get(None)))
            level_var.set(event)
            if event < DEPTH:
                await dispatcher.fire_event(event + 1)

        add(dispatcher, level, "during", use_weakref=False)
        self.successResultOf(fire(dispatcher, 0))
        assert seen == [(0, None)] + [(n, n - 1) for n in range(1, DEPTH + 1)]

    def test_chain_of_deferred_handlers(self) -> None:
        """A 300-level chain of handlers returning their child's Deferred completes."""
        dispatcher, clock = started(ordering="concurrent")

        def level(event: int) -> Deferred[Any]:
            if event == DEPTH:
                return deferLater(clock, 1, lambda: "leaf")
            return dispatcher.fire_event(event + 1).addCallback(
                lambda child: child.outcomes[0].result
            )

        add(dispatcher, level, "during", use_weakref=False)
        root = fire(dispatcher, 0)
        clock.advance(1)
        run = self.successResultOf(root)
        assert (run.status, run.outcomes[0].result) == ("completed", "leaf")

    def test_chain_of_inline_callbacks(self) -> None:
        """A 300-level chain of inlineCallbacks handlers completes."""
        dispatcher, clock = started()

        @inlineCallbacks
        def level(event: int) -> Any:
            if event == DEPTH:
                yield deferLater(clock, 1)
                return "leaf"
            child = yield dispatcher.fire_event(event + 1)
            return child.outcomes[0].result

        add(dispatcher, level, "during", use_weakref=False)
        root = fire(dispatcher, 0)
        clock.advance(1)
        assert self.successResultOf(root).outcomes[0].result == "leaf"

    def test_cancelling_the_root_cancels_the_whole_chain(self) -> None:
        """Cancelling the root of a 300-level chain ends every run of it as cancelled."""
        dispatcher, _ = started()
        leaves: list[Deferred[None]] = []

        async def leaf(event: int) -> None:
            waiting: Deferred[None] = Deferred()
            leaves.append(waiting)
            await waiting

        ended = _chain(dispatcher, leaf)
        root = fire(dispatcher, 0)
        root.cancel()
        run = self.successResultOf(root)
        assert run.status == "cancelled"
        assert [r.status for r in ended] == ["cancelled"] * DEPTH
        assert sorted(r.event for r in ended) == list(range(1, DEPTH + 1))
        assert leaves[0].called  # cancelled, down at the deepest level
        self.successResultOf(dispatcher.stop())

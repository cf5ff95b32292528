"""Handlers returning awaitables other than native coroutines are waited for too."""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any

from twisted.internet.defer import Deferred

from support import TestCase, add, fire, started
from twisted_event_dispatcher import HandlerTimedOut


class HandWrittenCoroutine(Coroutine[Any, Any, Any]):
    """A coroutine that is not a native one, as Cython compiles ``async def``.

    It awaits one Deferred, then returns what that Deferred gave, doubled.
    """

    def __init__(self, waits_for: Deferred[Any]) -> None:
        self.waits_for = waits_for
        self.started = False

    def send(self, value: Any) -> Any:
        """Yield the Deferred first; return its result doubled when it is sent back."""
        if not self.started:
            self.started = True
            return self.waits_for
        raise StopIteration(value * 2)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Raise what is thrown in: the coroutine does not handle errors."""
        raise typ if val is None else val

    def close(self) -> None:
        """Nothing to release."""

    def __await__(self) -> Generator[Any, Any, Any]:
        """Do as :meth:`send` does, for ``await`` (Twisted calls send and throw instead)."""
        result = yield self.waits_for
        return result * 2


class OnlyAwaitable:
    """An awaitable that is not a coroutine: it has ``__await__`` and nothing else."""

    def __init__(self, waits_for: Deferred[Any]) -> None:
        self.waits_for = waits_for

    def __await__(self) -> Generator[Any, Any, Any]:
        """Await the Deferred and return its result with a mark."""
        result = yield from self.waits_for.__await__()
        return ("awaited", result)


class AwaitableResultTests(TestCase):
    """Every awaitable a handler returns is waited for before the next phase."""

    def test_hand_written_coroutine_is_awaited(self) -> None:
        """A collections.abc.Coroutine that is not native holds the phase until it returns."""
        dispatcher, _ = started()
        gate: Deferred[int] = Deferred()
        after: list[str] = []
        keep = [lambda _e: HandWrittenCoroutine(gate), lambda _e: after.append("after")]
        add(dispatcher, keep[0], "during")
        add(dispatcher, keep[1], "after")
        d = fire(dispatcher)
        self.assertNoResult(d)
        assert after == []
        gate.callback(21)
        run = self.successResultOf(d)
        assert [(o.status, o.result) for o in run.outcomes] == [
            ("succeeded", 42),
            ("succeeded", None),
        ]
        assert after == ["after"]

    def test_hand_written_coroutine_failure(self) -> None:
        """A hand-written coroutine that raises is a failed outcome."""
        dispatcher, _ = started()
        gate: Deferred[int] = Deferred()
        keep = [lambda _e: HandWrittenCoroutine(gate)]
        add(dispatcher, keep[0], "during")
        d = fire(dispatcher)
        gate.errback(KeyError("gone"))
        run = self.successResultOf(d)
        [outcome] = run.outcomes
        assert outcome.status == "failed"
        assert outcome.failure is not None
        assert outcome.failure.check(KeyError)

    def test_hand_written_coroutine_times_out(self) -> None:
        """A hand-written coroutine that does not finish in time is timed out."""
        dispatcher, clock = started(handler_timeout=3)
        keep = [lambda _e: HandWrittenCoroutine(Deferred())]
        add(dispatcher, keep[0], "during")
        d = fire(dispatcher)
        clock.advance(3)
        [outcome] = self.successResultOf(d).outcomes
        assert outcome.status == "timed_out"
        assert outcome.failure is not None
        assert outcome.failure.check(HandlerTimedOut)

    def test_generic_awaitable_is_awaited(self) -> None:
        """An object with only __await__ is awaited, and its result is the outcome's."""
        dispatcher, _ = started()
        gate: Deferred[str] = Deferred()
        keep = [lambda _e: OnlyAwaitable(gate)]
        add(dispatcher, keep[0], "during")
        d = fire(dispatcher)
        self.assertNoResult(d)
        gate.callback("x")
        [outcome] = self.successResultOf(d).outcomes
        assert (outcome.status, outcome.result) == ("succeeded", ("awaited", "x"))

    def test_broken_awaitable_is_a_failure(self) -> None:
        """An object whose __await__ is not a valid awaiter is a failed outcome, not a crash."""

        class Broken:
            def __await__(self) -> Any:
                return 42

        dispatcher, _ = started()
        keep = [lambda _e: Broken()]
        add(dispatcher, keep[0], "during")
        [outcome] = self.successResultOf(fire(dispatcher)).outcomes
        assert outcome.status == "failed"
        assert outcome.failure is not None
        assert outcome.failure.check(TypeError)

    def test_plain_values_are_results(self) -> None:
        """Values that are not awaitable (strings, generators, classes) are results at once."""
        dispatcher, _ = started()

        def generator() -> Generator[int, None, None]:
            yield 1

        made = generator()
        values: list[Any] = ["text", made, OnlyAwaitable]
        keep = [lambda _e, value=value: value for value in values]
        for handler in keep:
            add(dispatcher, handler, "during")
        run = self.successResultOf(fire(dispatcher))
        assert [o.result for o in run.outcomes] == values

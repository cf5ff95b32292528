"""The thread boundary, with real threads against the global reactor that crochet runs.

The pytest thread is itself a thread other than the reactor's, as the README's
main thread is under crochet.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Coroutine, Iterator
from queue import SimpleQueue
from typing import Any, TypeVar, cast

import crochet
import pytest
from twisted.internet import reactor as _global_reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.python import threadable
from zope.interface import implementer

from twisted_event_dispatcher import EventDispatcher, EventRun, fire_event_from_thread
from twisted_event_dispatcher.runtime._threads import (
    call_in_reactor_thread,
    reactor_elsewhere,
)

pytestmark = pytest.mark.reactor

reactor: Any = _global_reactor
_T = TypeVar("_T")


def in_reactor_thread(
    scenario: Callable[[], Coroutine[Any, Any, _T]], timeout: float = 10.0
) -> _T:
    """Run *scenario* in crochet's reactor thread and return its result here."""

    def start() -> Deferred[_T]:
        return ensureDeferred(scenario())

    return cast("_T", crochet.wait_for(timeout=timeout)(start)())


def wait(deferred: Deferred[_T], timeout: float = 10.0) -> _T:
    """Wait here for a Deferred that belongs to the reactor thread."""

    async def scenario() -> _T:
        return await deferred

    return in_reactor_thread(scenario, timeout)


@pytest.fixture
def reactor_thread() -> int:
    """The id of the thread crochet runs the global reactor in."""
    crochet.setup()

    async def ident() -> int:
        return threading.get_ident()

    return in_reactor_thread(ident)


def test_calls_from_another_thread_run_in_the_reactor_thread(reactor_thread: int) -> None:
    """Every mutating method called from a non-reactor thread runs in the reactor thread."""
    dispatcher = EventDispatcher(("kind",))
    threads: list[int] = []

    def handler(event: object) -> None:
        threads.append(threading.get_ident())

    handler_id = wait(dispatcher.add_event_handler(handler, "during", kind="a"))
    started: Any = dispatcher.start
    assert started() is None
    dispatcher.add_match_spec_keyword("extra")
    run: EventRun = wait(dispatcher.fire_event("e", kind="a", extra=1))
    assert [r.handler_id for r in dispatcher.handlers()] == [handler_id]
    assert [r.handler_id for r in dispatcher.matching_handlers(kind="a")["during"]] == [handler_id]
    dispatcher.remove_match_spec_keyword("extra")
    assert wait(dispatcher.remove_event_handler(handler_id)) is None
    assert wait(dispatcher.stop()) is None
    assert run.status == "completed"
    assert threads == [reactor_thread]
    assert dispatcher.match_spec_keywords == ("kind",)


def test_errors_are_raised_in_the_calling_thread(reactor_thread: int) -> None:
    """A call that raises in the reactor thread raises the same exception in the caller."""
    dispatcher = EventDispatcher(("kind",))
    with pytest.raises(ValueError, match="not_allowed"):
        dispatcher.fire_event("e", not_allowed=1)
    with pytest.raises(ValueError, match="reserved"):
        dispatcher.add_match_spec_keyword("phase")


def test_fire_event_from_many_threads_loses_nothing(reactor_thread: int) -> None:
    """Runs fired by eight threads at once all complete, each handler called in the reactor."""
    dispatcher = EventDispatcher(("kind",), ordering="concurrent")
    seen: list[tuple[int, tuple[int, int]]] = []

    def handler(event: tuple[int, int]) -> None:
        seen.append((threading.get_ident(), event))

    wait(dispatcher.add_event_handler(handler, "during", kind="tick"))
    dispatcher.start()
    statuses: list[str] = []
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(25):
                run = fire_event_from_thread(dispatcher, (worker, index), kind="tick")
                statuses.append(run.status)
        except BaseException as error:  # noqa: BLE001 -- reported by the assertion below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=10)
    wait(dispatcher.stop())
    assert errors == []
    assert statuses == ["completed"] * 200
    assert {thread for thread, _ in seen} == {reactor_thread}
    assert sorted(event for _, event in seen) == sorted(
        (w, i) for w in range(8) for i in range(25)
    )
    assert dispatcher.handlers()[0].calls == 200


def test_event_fired_from_a_handlers_worker_thread_is_its_child(reactor_thread: int) -> None:
    """An event fired and awaited by a handler's worker thread is its child run, not a deadlock.

    The worker runs in a copy of the handler's context, as the guide says.
    """
    dispatcher = EventDispatcher(("kind",))
    children: list[EventRun] = []

    def in_worker() -> None:
        children.append(fire_event_from_thread(dispatcher, "child", kind="child"))

    def parent(event: object) -> Deferred[None]:
        # Twisted's thread pool does not carry contextvars over; copy them by hand.
        return deferToThread(contextvars.copy_context().run, in_worker)

    def child(event: object) -> None:
        pass

    wait(dispatcher.add_event_handler(parent, "during", kind="parent"))
    wait(dispatcher.add_event_handler(child, "during", kind="child"))
    dispatcher.start()
    run: EventRun = wait(dispatcher.fire_event("parent", kind="parent"))
    wait(dispatcher.stop())
    assert run.status == "completed"
    assert [c.parent_run_id for c in children] == [run.run_id]
    assert [o.status for o in children[0].outcomes] == ["succeeded"]


def test_fire_event_from_thread_refuses_the_reactor_thread(reactor_thread: int) -> None:
    """fire_event_from_thread called in the reactor thread raises instead of deadlocking."""
    dispatcher = EventDispatcher(("kind",))

    async def scenario() -> str:
        try:
            fire_event_from_thread(dispatcher, "e", kind="a")
        except RuntimeError as error:
            return str(error)
        return "no error"

    assert "called in the reactor thread" in in_reactor_thread(scenario)


def test_clock_dispatcher_stays_synchronous(reactor_thread: int) -> None:
    """A Clock dispatcher calls handlers synchronously in the caller's thread, crochet or not."""
    dispatcher = EventDispatcher(("kind",), reactor=Clock())
    threads: list[int] = []

    def handler(event: object) -> None:
        threads.append(threading.get_ident())

    dispatcher.add_event_handler(handler, "during")
    dispatcher.start()
    results: list[EventRun] = []
    dispatcher.fire_event("e", kind="a").addCallback(results.append)
    assert [run.status for run in results] == ["completed"]
    assert threads == [threading.get_ident()]
    assert reactor_elsewhere(dispatcher.reactor) is None
    with pytest.raises(RuntimeError, match="real reactor"):
        fire_event_from_thread(dispatcher, "e", kind="a")


class _StoppedReactor:
    """Just enough of a real reactor that is not running."""

    running = False

    def callFromThread(
        self, function: Callable[..., Any], *args: object, **kwargs: object
    ) -> None:
        """Never called: the reactor is not running."""
        raise AssertionError("callFromThread on a stopped reactor")


# Declared here, not with @implementer, so mypy-zope does not ask for all of IReactorCore.
implementer(IReactorCore, IReactorFromThreads)(_StoppedReactor)


def test_a_stopped_reactor_means_synchronous_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the dispatcher's reactor stopped, calls go ahead in place; the helper says why not."""
    monkeypatch.setattr(threadable, "ioThread", -1)
    stopped = cast("Any", _StoppedReactor())
    assert reactor_elsewhere(stopped) is None
    monkeypatch.setattr(stopped, "running", True)
    assert reactor_elsewhere(stopped) is stopped
    monkeypatch.setattr(stopped, "running", False)
    dispatcher = EventDispatcher(("kind",), reactor=cast("Any", stopped))
    with pytest.raises(RuntimeError, match="not running"):
        fire_event_from_thread(dispatcher, "e", kind="a")


def test_the_global_reactor_is_never_installed_by_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no global reactor installed, the check answers None without installing one."""
    monkeypatch.setattr(threadable, "ioThread", -1)
    monkeypatch.delitem(__import__("sys").modules, "twisted.internet.reactor")
    assert reactor_elsewhere(None) is None
    assert reactor_elsewhere(Clock()) is None


def test_call_in_reactor_thread_returns_deferreds_unwaited(reactor_thread: int) -> None:
    """call_in_reactor_thread hands back a Deferred as it is, and re-raises exceptions."""
    pending: Deferred[int] = Deferred()
    assert call_in_reactor_thread(reactor, lambda: pending) is pending

    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        call_in_reactor_thread(reactor, fail)
    reactor.callFromThread(pending.callback, 1)
    assert wait(pending) == 1


class _StoppingReactor:
    """A reactor that accepts a call from a thread, then stops before running it."""

    running = True

    def callFromThread(
        self, function: Callable[..., Any], *args: object, **kwargs: object
    ) -> None:
        """Drop the call, and stop."""
        self.running = False


implementer(IReactorCore, IReactorFromThreads)(_StoppingReactor)


def test_waiting_thread_is_released_when_the_reactor_stops() -> None:
    """A thread waiting for a reactor that stops before running its call gets an error."""
    stopping = cast("Any", _StoppingReactor())
    with pytest.raises(RuntimeError, match="the reactor stopped before it could run"):
        call_in_reactor_thread(stopping, lambda: None)


class _ThreadReactor:
    """Just enough of a reactor that runs in a thread of its own, on a Clock's time."""

    def __init__(self) -> None:
        self.running = True
        self.clock = Clock()
        self._calls: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = SimpleQueue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            function, args = call
            function(*args)

    def callFromThread(self, function: Callable[..., Any], *args: object) -> None:
        """Run *function* in the reactor's thread, after the calls queued before it."""
        self._calls.put((function, args))

    def seconds(self) -> float:
        """The Clock's time."""
        return self.clock.seconds()

    def callLater(self, delay: float, function: Callable[..., Any], *args: object) -> Any:
        """Schedule *function* on the Clock."""
        return self.clock.callLater(delay, function, *args)

    def stop(self) -> None:
        """Stop running, dropping whatever is queued, and wait for the thread to end."""
        self.running = False
        self._calls.put(None)
        self.thread.join(timeout=10)


implementer(IReactorCore, IReactorFromThreads)(_ThreadReactor)


@pytest.fixture
def thread_reactor(monkeypatch: pytest.MonkeyPatch) -> Iterator[_ThreadReactor]:
    """A _ThreadReactor taken for the reactor thread, polled every 10 ms while waited for."""
    monkeypatch.setattr("twisted_event_dispatcher.runtime._threads._POLL_SECONDS", 0.01)
    thread_reactor = _ThreadReactor()
    monkeypatch.setattr(threadable, "ioThread", thread_reactor.thread.ident)
    yield thread_reactor
    thread_reactor.stop()


def test_dispatcher_and_event_can_be_match_keywords(thread_reactor: _ThreadReactor) -> None:
    """fire_event_from_thread takes its dispatcher and event positionally only."""
    dispatcher = EventDispatcher(("dispatcher", "kind"), reactor=cast("Any", thread_reactor))
    seen: list[object] = []

    def handler(event: object) -> None:
        seen.append(event)

    dispatcher.add_event_handler(handler, "during", dispatcher="main")
    dispatcher.start()
    run = fire_event_from_thread(dispatcher, "e", dispatcher="main", kind="k")
    assert (run.status, run.details, seen) == (
        "completed",
        {"dispatcher": "main", "kind": "k"},
        ["e"],
    )
    with pytest.raises(ValueError, match="not_allowed"):
        fire_event_from_thread(dispatcher, "e", not_allowed=1)


def test_waiting_thread_is_released_when_the_reactor_stops_mid_run(
    thread_reactor: _ThreadReactor,
) -> None:
    """A thread waiting for a run gets a clear error if the reactor stops before the run ends."""
    dispatcher = EventDispatcher(("kind",), reactor=cast("Any", thread_reactor))
    called = threading.Event()
    pending: list[Deferred[None]] = []

    def handler(event: object) -> Deferred[None]:
        called.set()
        pending.append(Deferred())
        return pending[-1]

    dispatcher.add_event_handler(handler, "during")
    dispatcher.start()
    errors: list[BaseException] = []

    def wait_for_the_run() -> None:
        try:
            fire_event_from_thread(dispatcher, "e")
        except BaseException as error:  # noqa: BLE001 -- checked below
            errors.append(error)

    waiter = threading.Thread(target=wait_for_the_run, daemon=True)
    waiter.start()
    assert called.wait(timeout=10)
    thread_reactor.stop()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    [error] = errors
    assert isinstance(error, RuntimeError)
    assert str(error) == "the reactor stopped before the run this thread waited for had ended"

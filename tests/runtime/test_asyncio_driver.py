"""The asyncio Task driver of coroutine handlers (runtime._asyncio), on a plain asyncio loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator, Iterator
from typing import Any

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from twisted_event_dispatcher.runtime._asyncio import _as_task, coroutine_runner


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh asyncio loop, closed after the test."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _outcome(loop: asyncio.AbstractEventLoop, deferred: Deferred[Any]) -> object:
    """Run *loop* until *deferred* has fired; return its result or its Failure."""
    results: list[object] = []
    deferred.addBoth(results.append)
    for _ in range(100):
        if results:
            break
        loop.run_until_complete(asyncio.sleep(0.001))
    [result] = results
    return result


def _run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Deferred[Any]:
    return _as_task(loop, coro)


def test_awaits_asyncio_and_deferreds_in_one_body(loop: asyncio.AbstractEventLoop) -> None:
    """A coroutine awaits asyncio.sleep(0), a future, a Task and a Deferred, in any order."""
    later: Deferred[str] = Deferred()

    async def handler() -> list[object]:
        seen: list[object] = []
        await asyncio.sleep(0)  # a bare yield
        seen.append(await asyncio.sleep(0.001, result="slept"))
        loop.call_soon(later.callback, "deferred")
        seen.append(await later)
        seen.append(await asyncio.ensure_future(asyncio.sleep(0, result="task")))
        seen.append(asyncio.current_task() is not None)
        return seen

    assert _outcome(loop, _run(loop, handler())) == ["slept", "deferred", "task", True]


def test_failures_reach_the_coroutine(loop: asyncio.AbstractEventLoop) -> None:
    """A failed Deferred and a failed future raise inside the coroutine, where it awaits them."""
    failing: Deferred[None] = Deferred()

    async def handler() -> list[str]:
        caught: list[str] = []
        loop.call_soon(failing.errback, Failure(ValueError("from a Deferred")))
        try:
            await failing
        except ValueError as error:
            caught.append(str(error))
        future: asyncio.Future[None] = loop.create_future()
        loop.call_soon(future.set_exception, KeyError("from a future"))
        try:
            await future
        except KeyError as error:
            caught.append(str(error))
        return caught

    assert _outcome(loop, _run(loop, handler())) == ["from a Deferred", "'from a future'"]


def test_an_uncaught_error_fails_the_deferred(loop: asyncio.AbstractEventLoop) -> None:
    """An exception the coroutine lets out fails the Deferred the run waits for."""

    async def handler() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    result = _outcome(loop, _run(loop, handler()))
    assert isinstance(result, Failure)
    assert isinstance(result.value, RuntimeError)


def test_cancel_while_awaiting_a_deferred(loop: asyncio.AbstractEventLoop) -> None:
    """Cancelling cancels the Deferred awaited: the coroutine sees Twisted's CancelledError."""
    awaited: Deferred[None] = Deferred()
    seen: list[str] = []

    async def handler() -> None:
        try:
            await awaited
        except CancelledError:
            seen.append("twisted CancelledError")
            raise

    deferred = _run(loop, handler())
    loop.run_until_complete(asyncio.sleep(0.001))
    deferred.cancel()
    result = _outcome(loop, deferred)
    assert isinstance(result, Failure)
    assert isinstance(result.value, CancelledError)
    assert awaited.called
    assert seen == ["twisted CancelledError"]


def test_cancel_while_awaiting_an_asyncio_future(loop: asyncio.AbstractEventLoop) -> None:
    """Cancelling cancels the Task: the coroutine sees asyncio's CancelledError, as in asyncio."""
    seen: list[str] = []

    async def handler() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append("asyncio CancelledError")
            raise

    deferred = _run(loop, handler())
    loop.run_until_complete(asyncio.sleep(0.001))
    deferred.cancel()
    result = _outcome(loop, deferred)
    assert isinstance(result, Failure)
    assert isinstance(result.value, CancelledError)  # Twisted's, as a cancelled Deferred's
    assert seen == ["asyncio CancelledError"]


def test_awaiting_something_else_raises_inside(loop: asyncio.AbstractEventLoop) -> None:
    """Awaiting an object that yields neither a Deferred nor a future raises RuntimeError there."""

    class Odd:
        def __await__(self) -> Generator[object, None, None]:
            yield "odd"

    async def handler() -> str:
        try:
            await Odd()
        except RuntimeError as error:
            return str(error)
        return "not raised"

    message = _outcome(loop, _run(loop, handler()))
    assert isinstance(message, str)
    assert "neither a Deferred nor an asyncio future" in message


def test_other_reactors_keep_twisted_s_driver() -> None:
    """On any reactor but the asyncio one, coroutines are run by Deferred.fromCoroutine."""
    assert coroutine_runner(Clock()) == Deferred.fromCoroutine

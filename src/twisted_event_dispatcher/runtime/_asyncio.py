"""Coroutine handlers on Twisted's asyncio reactor: run as asyncio Tasks that await Deferreds too.

Twisted drives a coroutine (:meth:`Deferred.fromCoroutine`) by waiting for the
Deferreds it awaits; it cannot wait for an asyncio future, so ``await
asyncio.sleep(1)`` fails there.  On the asyncio reactor a coroutine handler
runs instead as an :class:`asyncio.Task` (so ``asyncio.current_task()`` is
its task, as aiohttp's timeouts need), driven by :func:`_drive`, which waits
for each asyncio future and each Deferred the coroutine awaits.  On any other
reactor nothing here is used: coroutines go to :meth:`Deferred.fromCoroutine`
as before.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, cast

from twisted.internet.defer import CancelledError, Deferred
from twisted.python.failure import Failure

from twisted_event_dispatcher._safe import safe_repr

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

__all__ = ["CoroutineRunner", "coroutine_runner"]

_T = TypeVar("_T")

CoroutineRunner = Callable[[Coroutine[Any, Any, Any]], Deferred[Any]]
"""Turns a coroutine a handler returned into the Deferred the run waits for."""


def coroutine_runner(reactor: IReactorTime) -> CoroutineRunner:
    """Return how coroutines are run for a dispatcher on *reactor*.

    :meth:`Deferred.fromCoroutine`, unless *reactor* is Twisted's asyncio
    reactor (looked up only if its module was imported: nothing is imported
    for the others).
    """
    module = sys.modules.get("twisted.internet.asyncioreactor")
    if module is None or not isinstance(reactor, module.AsyncioSelectorReactor):
        return Deferred.fromCoroutine
    loop: asyncio.AbstractEventLoop = cast("Any", reactor)._asyncioEventloop
    return functools.partial(_as_task, loop)


def _as_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, _T]) -> Deferred[_T]:
    # The Task runs in a copy of the current context: current_call() works in it.
    task = loop.create_task(_drive(loop, coro))
    return Deferred.fromFuture(task).addErrback(_twisted_cancelled)


def _twisted_cancelled(failure: Failure) -> Failure:
    # A Task ended by its cancellation (a timeout, the run cancelled) fails as
    # a cancelled Deferred does, with Twisted's CancelledError.
    if isinstance(failure.value, asyncio.CancelledError):
        return Failure(CancelledError("the coroutine's asyncio Task was cancelled"))
    return failure


def _settled(loop: asyncio.AbstractEventLoop, deferred: Deferred[Any]) -> asyncio.Future[None]:
    """Return a future done once *deferred* has fired; its result stays on *deferred*."""
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(result: object) -> object:
        if not waiter.done():
            waiter.set_result(None)
        return result  # the coroutine reads it from the Deferred when resumed

    deferred.addBoth(wake)
    return waiter


async def _drive(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, _T]) -> _T:  # noqa: C901
    """Step *coro*, waiting for what it awaits: asyncio futures and Deferreds alike.

    An ``await`` in a coroutine hands what it waits for up to whoever steps
    it: an asyncio future (``asyncio.sleep``, a Task, aiohttp), a pending
    Deferred, or None (``asyncio.sleep(0)``'s bare yield).  Once that has
    settled, the coroutine is resumed and reads the outcome itself from the
    future or the Deferred.  A cancellation of this Task while it waits
    cancels what it waits for, and so reaches the coroutine as it would
    under asyncio (a cancelled future) or Twisted (a cancelled Deferred).
    """
    throw: BaseException | None = None
    while True:
        try:
            yielded = coro.send(None) if throw is None else coro.throw(throw)
        except StopIteration as stop:
            return cast("_T", stop.value)
        throw = None
        if isinstance(yielded, Deferred):
            try:
                await _settled(loop, yielded)
            except BaseException as error:  # noqa: BLE001 -- this Task was cancelled
                yielded.cancel()
                if not yielded.called:  # paused: it cannot give the coroutine an outcome
                    throw = error
        elif yielded is None:
            try:
                await asyncio.sleep(0)
            except BaseException as error:  # noqa: BLE001 -- handed to the coroutine
                throw = error
        elif asyncio.isfuture(yielded):
            # Awaited already (its __await__ marked it blocking and handed it up):
            # unmark it, as a Task does, so that it can be awaited here in turn.
            yielded._asyncio_future_blocking = False
            try:
                await yielded
            except BaseException as error:  # noqa: BLE001 -- handed to the coroutine
                if not yielded.done():  # cancelled while the future could not be
                    throw = error
        else:
            throw = RuntimeError(
                f"a coroutine handler awaited {safe_repr(yielded)}, which is neither a "
                "Deferred nor an asyncio future"
            )

"""Handlers of every flavour on Twisted's asyncio reactor (docs/howto/asyncio.md).

Run it with ``python examples/asyncio_handlers.py``: it prints what each
handler did, then how the run ended.  tests/runtime/test_asyncio_reactor.py
runs it in a subprocess and checks what it prints.
"""

from __future__ import annotations

# 1. Install the asyncio reactor before anything imports twisted.internet.reactor.
import asyncio

from twisted.internet import asyncioreactor

asyncioreactor.install()

# 2. Only now import what uses the reactor.
from twisted.internet import defer, task  # noqa: E402
from twisted.internet.interfaces import IReactorTime  # noqa: E402

from twisted_event_dispatcher import EventDispatcher, EventRun, current_call  # noqa: E402


async def waits_with_asyncio(event: str) -> str:
    """An ``async def`` handler awaiting asyncio: sleep, then a Task of its own."""
    await asyncio.sleep(0.01)
    child = asyncio.ensure_future(asyncio.sleep(0.01, result="slept"))
    call = current_call()  # still known after the awaits
    phase = None if call is None else call.phase
    print(f"asyncio: {await child} in {phase}, task={asyncio.current_task() is not None}")
    return "asyncio"


async def waits_with_twisted(event: str) -> str:
    """The same handler may await Deferreds as well, before and after asyncio."""
    reactor = current_reactor()
    await task.deferLater(reactor, 0.01, lambda: None)
    await asyncio.sleep(0)
    value = await defer.succeed("ready")
    print(f"twisted: deferLater, then {value}")
    return "twisted"


def returns_a_future(event: str) -> asyncio.Future[str]:
    """A plain handler returning an asyncio future: the phase waits for it."""
    loop = asyncio.get_event_loop()  # the reactor's: installing it made it the current loop
    future: asyncio.Future[str] = loop.create_future()
    loop.call_later(0.01, future.set_result, "future")
    return future


async def too_slow(event: str) -> None:
    """A handler that outlives its timeout: its Task is cancelled."""
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        print("too_slow: cancelled by its timeout")
        raise


def current_reactor() -> IReactorTime:
    """The installed (asyncio) reactor."""
    from twisted.internet import reactor

    return reactor  # type: ignore[return-value]


def describe(run: EventRun[str]) -> str:
    """One line per handler: its status and result."""
    return "\n".join(
        f"outcome {outcome.handler_name.rsplit('.', 1)[-1]}: {outcome.status} {outcome.result!r}"
        for outcome in run.outcomes
    )


async def main(reactor: IReactorTime) -> None:
    """Register the handlers, fire one event, print how the run went."""
    dispatcher: EventDispatcher[str] = EventDispatcher([], reactor=reactor)
    dispatcher.start()
    for handler in (waits_with_asyncio, waits_with_twisted, returns_a_future):
        dispatcher.add_event_handler(handler, "during")
    dispatcher.add_event_handler(too_slow, "after", timeout=0.05)
    run = await dispatcher.fire_event("hello")
    await task.deferLater(reactor, 0.01, lambda: None)  # too_slow's Task takes its cancel
    print(describe(run))
    print(f"run: {run.status}")
    await dispatcher.stop()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))

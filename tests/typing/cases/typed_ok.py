"""Typed use of the dispatcher that must type-check under ``mypy --strict``.

Checked by ``tests/typing/test_typing.py``, which runs mypy on it; ``make
typecheck`` leaves this directory out (its sibling must fail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from typing_extensions import assert_type

from twisted_event_dispatcher import EventDispatcher, EventRun, HandlerId


@dataclass(frozen=True)
class UserEvent:
    """An event of the application."""

    name: str


class AdminEvent(UserEvent):
    """A kind of UserEvent."""


def on_user(event: UserEvent) -> None:
    """Take the dispatcher's event type."""


def on_anything(event: object) -> str:
    """Take a wider type than the dispatcher's: fine."""
    return repr(event)


async def on_user_async(event: UserEvent) -> None:
    """Be a coroutine handler."""


def on_user_deferred(event: UserEvent) -> Deferred[None]:
    """Return a Deferred."""
    return succeed(None)


def on_user_details(event: UserEvent, *, role: str) -> None:
    """Take the details as keywords (pass_details=True)."""


def typed_use(dispatcher: EventDispatcher[UserEvent]) -> None:
    """Register and fire with the event type the dispatcher is parameterised with."""
    dispatcher.add_event_handler(on_user, "during")
    dispatcher.add_event_handler(on_anything, "during", role="user")
    dispatcher.add_event_handler(on_user_async, "during", priority=2)
    dispatcher.add_event_handler(on_user_deferred, "after", use_weakref=False)
    dispatcher.add_event_handler(on_user_details, "during", pass_details=True)
    names: list[str] = []
    dispatcher.add_event_handler(lambda event: names.append(event.name), "during", False)
    run = dispatcher.fire_event(UserEvent("ada"), role="user")
    assert_type(run, Deferred[EventRun[UserEvent]])
    dispatcher.fire_event(AdminEvent("root"))

    def name_of(result: EventRun[UserEvent]) -> str:
        return result.event.name

    assert_type(run.addCallback(name_of), Deferred[str])

    @dispatcher.handler("during", role="user")
    def decorated(event: UserEvent) -> int:
        return len(event.name)

    assert_type(decorated(UserEvent("grace")), int)
    with dispatcher.handling(on_user, "during", role="admin") as handler_id:
        assert_type(handler_id, HandlerId)


def built() -> EventDispatcher[UserEvent]:
    """Parameterise at construction (it works at run time too)."""
    return EventDispatcher[UserEvent](["role"])


def unparameterised(dispatcher: EventDispatcher) -> None:
    """Unparameterised, the dispatcher fires events of any type, as before."""
    assert_type(dispatcher, EventDispatcher[Any])
    dispatcher.add_event_handler(on_user, "during")
    dispatcher.fire_event(42)
    plain = EventDispatcher(["role"])
    plain.fire_event("anything")

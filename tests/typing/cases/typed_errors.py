"""Typed misuse of the dispatcher that ``mypy --strict`` must flag, line by line.

Each line that must be flagged ends with ``# E: <error code>``;
``tests/typing/test_typing.py`` runs mypy on this file and compares.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted_event_dispatcher import EventDispatcher, EventRun


@dataclass(frozen=True)
class UserEvent:
    """The dispatcher's event type."""

    name: str


@dataclass(frozen=True)
class OrderEvent:
    """Another event type."""

    total: int


def on_order(event: OrderEvent) -> None:
    """Take the wrong event type."""


def on_user_details(event: UserEvent, *, role: str) -> None:
    """Need the details as keywords."""


def misuse(dispatcher: EventDispatcher[UserEvent]) -> None:
    """Each statement is flagged."""
    dispatcher.add_event_handler(on_order, "during")  # E: arg-type
    dispatcher.add_event_handler(on_order, "during", pass_details=True)  # E: arg-type
    dispatcher.add_event_handler(on_user_details, "during")  # E: arg-type
    dispatcher.add_event_handler(lambda event: event.total, "during")  # E: attr-defined
    dispatcher.fire_event(OrderEvent(3))  # E: arg-type
    dispatcher.handler("during")(on_order)  # E: arg-type
    with dispatcher.handling(on_order, "during"):  # E: arg-type
        pass


def wrong_result(run: EventRun[UserEvent]) -> object:
    """The run's event carries the dispatcher's type."""
    return run.event.total  # E: attr-defined


def wrong_construction() -> EventDispatcher[UserEvent]:
    """A dispatcher of another event type is not this one."""
    return EventDispatcher[OrderEvent](["role"])  # E: return-value

"""The README story on a real reactor: users are created, handlers are notified.

Run it with ``make demo`` (or ``python examples/readme_story.py``).  It prints
each run's outcome as it ends.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime

from twisted_event_dispatcher import EventDispatcher, EventRun


class UserEvent(NamedTuple):
    """The README's event: a user was created."""

    event_type: str
    user: str
    role: str
    other_data: str


def describe(run: EventRun) -> str:
    """Return one line saying how *run* ended and what each handler did."""
    outcomes = ", ".join(
        f"{o.phase}:{o.handler_name.rsplit('.', 1)[-1]}={o.status} ({o.duration * 1000:.1f} ms)"
        for o in run.outcomes
    )
    return f"{run.event.user:>6} ({run.event.role}): {run.status}; {outcomes or 'no handlers'}"


async def main(reactor: IReactorTime) -> None:
    """Build the dispatcher, register handlers, fire the README's events."""
    dispatcher = EventDispatcher(
        allowed_match_spec_keywords=("event_type", "user", "role"), reactor=reactor
    )
    notified: list[Any] = []

    def notify_admin(user_event: Any) -> defer.Deferred[None]:
        # Pretend to send an e-mail that takes 50 ms.
        notified.append(user_event)
        return task.deferLater(reactor, 0.05)

    def audit(user_event: Any) -> None:
        print(f"  audit: {user_event.user} was created")

    async def welcome(user_event: Any) -> str:
        await task.deferLater(reactor, 0.01)
        return f"welcome mail queued for {user_event.user}"

    dispatcher.start()

    async def fire(event: Any) -> None:
        run = await dispatcher.fire_event(
            event, event_type=event.event_type, role=event.role, user=event.user
        )
        print(describe(run))

    print("1. notify_admin hears about every user")
    handler_id = await dispatcher.add_event_handler(notify_admin, "during")
    audit_id = await dispatcher.add_event_handler(audit, "after", event_type="user_created")
    await fire(UserEvent("user_created", "bob", "user", "1234"))
    await fire(UserEvent("user_created", "susan", "admin", "4567"))

    print("2. after remove_event_handler it hears nothing")
    await dispatcher.remove_event_handler(handler_id)
    await fire(UserEvent("user_created", "susan", "admin", "4567"))

    print("3. with the match spec role='user' it hears about users, not admins")
    await dispatcher.add_event_handler(notify_admin, "during", role="user")
    await dispatcher.add_event_handler(welcome, "after", role="user")
    await fire(UserEvent("user_created", "susan", "admin", "4567"))
    await fire(UserEvent("user_created", "bob", "user", "1234"))

    await dispatcher.remove_event_handler(audit_id)
    await dispatcher.stop()
    print(f"notify_admin was called {len(notified)} times; the dispatcher is stopped")


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor)))

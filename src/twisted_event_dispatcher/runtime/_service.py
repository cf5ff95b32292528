"""A :class:`twisted.application.service.Service` that owns a dispatcher's lifecycle."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

from twisted.application.service import Service

from twisted_event_dispatcher.runtime._dispatcher import _positive_seconds

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from twisted_event_dispatcher.runtime._dispatcher import EventDispatcher

__all__ = ["DispatcherService"]

_DEFAULT_STOP_TIMEOUT: Final = 30.0
"""Seconds :class:`DispatcherService` lets the runs in flight take when it stops."""


@final
class DispatcherService(Service):
    """Starts a dispatcher with its application and drains it on shutdown.

    Add it to a :class:`~twisted.application.service.MultiService` (or set
    its parent to the ``application`` of a ``.tac`` file, or return it from a
    ``twist`` plugin's ``makeService``).  ``twistd``, ``twist`` and
    ``MultiService`` wait for the Deferred that :meth:`stopService` returns,
    so the reactor stops only once every run in flight has ended: no handler
    is cut short, unless it takes longer than *stop_timeout*: then the runs
    still in flight are cancelled, with a warning naming them and what they
    wait for, so the process always exits.

    Services stop in the reverse order they were added.  Add the dispatcher's
    service *before* the services that fire events (a web server), so they
    stop first and no event arrives at a stopped dispatcher.

    Args:
        dispatcher: The dispatcher to start and stop.
        name: The service's name in its parent, for ``getServiceNamed``.
        stop_timeout: Seconds, on the dispatcher's reactor clock, that
            :meth:`stopService` lets the runs in flight take (see
            :meth:`EventDispatcher.stop`); None to wait however long they take.

    Raises:
        TypeError: *stop_timeout* is not a number.
        ValueError: *stop_timeout* is not positive and finite.

    .. versionadded:: 1.0
    .. versionchanged:: 1.1
       Added *stop_timeout*, 30 seconds unless told otherwise.
    """

    def __init__(
        self,
        dispatcher: EventDispatcher,
        name: str | None = "event-dispatcher",
        *,
        stop_timeout: float | None = _DEFAULT_STOP_TIMEOUT,
    ) -> None:
        self.dispatcher = dispatcher
        """The dispatcher this service starts and stops."""
        self.stop_timeout: Final = _positive_seconds("stop_timeout", stop_timeout)
        """Seconds :meth:`stopService` lets the runs in flight take, or None."""
        if name is not None:
            self.setName(name)  # type: ignore[no-untyped-call]  # Twisted's is unannotated

    def __repr__(self) -> str:
        state = "running" if self.running else "not running"
        return f"<DispatcherService {self.name!r} {state} {self.dispatcher!r}>"

    # startService and stopService are IService's names; ruff's N802 is off project-wide.
    def startService(self) -> None:
        """Mark the service running and start the dispatcher."""
        super().startService()  # type: ignore[no-untyped-call]
        self.dispatcher.start()

    def stopService(self) -> Deferred[None]:
        """Mark the service stopped and stop the dispatcher.

        Returns:
            The dispatcher's drain Deferred: it fires once every run in
            flight, or waiting for its serial turn, has ended, or once
            :attr:`stop_timeout` has run out and they were cancelled.
        """
        super().stopService()  # type: ignore[no-untyped-call]
        return self.dispatcher.stop(timeout=self.stop_timeout)

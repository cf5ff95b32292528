"""One connection to the broker: pika's Twisted protocol, its factory, and what it holds."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, final

from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.internet.protocol import Factory, connectionDone
from twisted.python.failure import Failure

from twisted_event_dispatcher.cluster._routing import Binding

__all__ = ["Link", "PikaFactory"]


@functools.cache
def _protocol_class() -> type:
    """Return pika's Twisted protocol class, remembering why its connection was lost.

    pika reports a connection lost during its handshake as
    ``AMQPConnectionError(1)``; the reason (a TLS error, a refused login) is
    only in ``connectionLost``.
    """
    from pika.adapters.twisted_connection import TwistedProtocolConnection

    class _Protocol(TwistedProtocolConnection):  # type: ignore[misc]
        lost_reason: Failure | None = None

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            self.lost_reason = reason
            super().connectionLost(reason)

    return _Protocol


class PikaFactory(Factory):
    """Builds pika's Twisted protocol for each connection, and hands it to the node."""

    noisy = False  # the node logs its connections itself

    def __init__(self, parameters: Any, reactor: Any, attach: Callable[[Any], object]) -> None:
        self._parameters = parameters
        self._reactor = reactor
        self._attach = attach

    def buildProtocol(self, addr: object) -> Any:  # noqa: ARG002 -- Factory's signature
        protocol = _protocol_class()(self._parameters, custom_reactor=self._reactor)
        protocol.factory = self
        self._attach(protocol)
        return protocol


@final
class Link:
    """One connection to the broker, and what it has declared and consumes."""

    def __init__(self, protocol: Any) -> None:
        self.protocol: Final = protocol
        self.publisher: Any = None
        self.consumer: Any = None
        self.lock: Final = DeferredLock()
        self.bound: set[tuple[str, Binding]] = set()
        self.consuming: dict[str, str] = {}
        """Queue name -> consumer tag."""
        self.declared_pools: set[str] = set()
        self.returned: set[str] = set()
        """Ids of the messages the broker returned as unroutable (until their ack)."""
        self.lost = False
        self._unblocked: list[Deferred[None]] | None = None

    def on_blocked(self, *_: object) -> None:
        if self._unblocked is None:
            self._unblocked = []

    def on_unblocked(self, *_: object) -> None:
        waiters, self._unblocked = self._unblocked, None
        for waiter in waiters or ():
            waiter.callback(None)

    def unblocked(self) -> Deferred[None]:
        """Fire once the broker lets this connection publish (``connection.blocked``)."""
        if self._unblocked is None:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._unblocked.append(waiter)
        return waiter

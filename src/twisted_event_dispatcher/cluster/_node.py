"""EventCluster: one node of a cluster whose events cross processes through RabbitMQ.

A node composes an :class:`~twisted_event_dispatcher.EventDispatcher` (through
its public API only) with a connection to the broker that Twisted's
:class:`~twisted.application.internet.ClientService` keeps up.  Every handler
is registered with the dispatcher under one more match keyword,
``delivery``, whose value says where the events it hears come from:
``"local"`` (fired in this process), ``"broadcast"`` (this node's own queue)
or ``"pool:<name>"`` (a work queue).  A message received from a queue is fired
with that queue's ``delivery`` value, so it reaches exactly the handlers the
broker routed it for, and the dispatcher checks the match spec again: a hash
collision or an encoding corner never calls a wrong handler.

The broker side of the node is reconciled, never patched: the node keeps the
bindings and pools its handlers need, and :meth:`EventCluster._reconcile`
brings a connection in line with them, under a lock, on every connection and
after every change.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, final

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredSemaphore,
    fail,
    succeed,
)
from twisted.python.failure import Failure

from twisted_event_dispatcher.cluster._address import BrokerAddress
from twisted_event_dispatcher.cluster._codec import JsonCodec
from twisted_event_dispatcher.cluster._errors import BrokerUnavailable, PublishError
from twisted_event_dispatcher.cluster._link import Link, PikaFactory
from twisted_event_dispatcher.cluster._records import Publication, RemoteOrigin, WorkQueue
from twisted_event_dispatcher.cluster._routing import Binding, RoutingMode, make_routing
from twisted_event_dispatcher.cluster._wire import (
    DETAILS,
    ROUTING,
    Envelope,
    MessageRejected,
    encode_details,
    origin_headers,
)
from twisted_event_dispatcher.exceptions import DispatcherNotRunning
from twisted_event_dispatcher.runtime import (
    DEFAULT_PHASES,
    EventDispatcher,
    EventRun,
    current_call,
)
from twisted_event_dispatcher.runtime._observe import (
    incoming_trace_context,
    outgoing_trace_headers,
)
from twisted_event_dispatcher.tracing._logger import get_logger

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from twisted_event_dispatcher.cluster._codec import Codec
    from twisted_event_dispatcher.cluster._records import Delivery
    from twisted_event_dispatcher.typing import Handler, HandlerId, OnHandlerError, Ordering

__all__ = ["EventCluster"]

DELIVERY: Final = "delivery"
"""The match keyword the node adds to every handler's spec and every fired event."""

_LOCAL: Final = "local"
_BROADCAST: Final = "broadcast"
_MiB: Final = 1024 * 1024


def _now(deferred: Deferred[Any]) -> Any:
    """Return the result of an already fired Deferred (raise its failure)."""
    box: list[Any] = []
    deferred.addBoth(box.append)
    [result] = box
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _name(parameter: str, value: object, *, limit: int) -> str:
    if (
        not isinstance(value, str)
        or not value
        or not value.isprintable()
        or " " in value
        or len(value) > limit
    ):
        raise ValueError(
            f"{parameter} must be a non-empty str of at most {limit} printable characters "
            f"without spaces; got {value!r}"
        )
    return value


def _positive(parameter: str, value: object, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise TypeError(f"{parameter} must be a positive {kind.__name__}; got {value!r}")
    if not value > 0:
        raise ValueError(f"{parameter} must be > 0; got {value!r}")
    return value


@final
class EventCluster:
    """One node of a cluster of processes that fire and handle each other's events.

    It has the dispatcher's API: :meth:`add_event_handler` takes the same
    phases and match specs, and a ``delivery`` that says which events a
    handler hears; :meth:`fire_event` publishes the event to the broker
    (RabbitMQ, through pika's Twisted adapter) and runs this node's
    ``"local"`` handlers at once.

    Args:
        broker_url: ``amqp://user:password@host:port/vhost`` (or
            ``amqps://`` for TLS).  Its password never appears in logs,
            errors or reprs.
        allowed_match_spec_keywords: The keywords specs and details may use;
            every node of the cluster must allow the same ones.  ``delivery``
            is reserved.
        phases: The phases, in the order they run (per node).
        node_name: This node's name in traces and queue names; defaults to
            ``<host name>.<process id>``.
        cluster_name: The prefix of every exchange and queue the cluster
            declares; nodes with the same name form one cluster.
        routing: ``"topic"`` (the default: the broker indexes bindings, so
            routing stays fast with thousands of specs) or ``"headers"``
            (an ``x-match: all`` headers exchange; the broker scans bindings).
            Every node of a cluster must use the same.
        codec: Encodes events to bytes and back; the default is
            :class:`JsonCodec`.
        reactor: The reactor to connect with and whose clock times handlers;
            None for the global reactor.
        ordering: ``"serial"`` or ``"concurrent"``, as for the dispatcher.
        on_handler_error: ``"continue"`` or ``"abort"``, as for the dispatcher.
        handler_timeout: As for the dispatcher.
        prefetch: How many messages each of the node's queues may hand it
            before it acknowledges one.
        max_unconfirmed: How many publishes may await the broker's confirm;
            :meth:`fire_event` waits for room beyond that.
        publish_timeout: Seconds a publish may take, from the call (waiting
            for a connection and for room included) to the broker's confirm.
        delivery_limit: How many times a work queue delivers a message whose
            run failed (or that no handler took) before it dead-letters it.
        max_message_bytes: The largest encoded event sent or accepted.
        broadcast_queue_expires: Seconds the node's broadcast queue outlives
            a lost connection (events published meanwhile wait in it).
        tls_options: For ``amqps://``: Twisted client TLS options
            (:func:`twisted.internet.ssl.optionsForClientTLS`); None to verify
            the broker against the system's trust roots.
        retry_policy: How long to wait before reconnecting after the
            *n*-th failed attempt (Twisted's ``ClientService`` policy); the
            default backs off from half a second to 30 seconds.

    Raises:
        ValueError: A name, mode or option is out of range, or a keyword is
            ``delivery``.
        TypeError: An option is of the wrong type.

    .. versionadded:: 1.1
    """

    def __init__(
        self,
        broker_url: str,
        allowed_match_spec_keywords: Iterable[str],
        phases: Sequence[str] = DEFAULT_PHASES,
        *,
        node_name: str | None = None,
        cluster_name: str = "ted",
        routing: RoutingMode = "topic",
        codec: Codec | None = None,
        reactor: IReactorTime | None = None,
        ordering: Ordering = "serial",
        on_handler_error: OnHandlerError = "continue",
        handler_timeout: float | None = None,
        prefetch: int = 32,
        max_unconfirmed: int = 1000,
        publish_timeout: float = 30.0,
        delivery_limit: int = 5,
        max_message_bytes: int = _MiB,
        broadcast_queue_expires: float = 60.0,
        tls_options: Any = None,
        retry_policy: Callable[[int], float] | None = None,
    ) -> None:
        self._address: Final = BrokerAddress(broker_url, tls_options)
        if isinstance(allowed_match_spec_keywords, (str, bytes)):
            raise TypeError(
                "allowed_match_spec_keywords must be a sequence of names, such as "
                f"('a', 'b'); got {allowed_match_spec_keywords!r}"
            )
        keywords = tuple(allowed_match_spec_keywords)
        if DELIVERY in keywords:
            raise ValueError(
                f"{DELIVERY!r} cannot be a match keyword of a cluster: it is the parameter "
                "that says where a handler's events come from"
            )
        self.node_name: Final = _name(
            "node_name",
            node_name if node_name is not None else f"{socket.gethostname()}.{os.getpid()}",
            limit=100,
        )
        """This node's name, as traces and queue names show it."""
        self.cluster_name: Final = _name("cluster_name", cluster_name, limit=100)
        """The prefix of every exchange and queue of the cluster."""
        self._instance: Final = f"{self.node_name}.{secrets.token_hex(3)}"
        self._routing: Final = make_routing(routing, keywords)
        self._codec: Final[Codec] = codec if codec is not None else JsonCodec()
        self.dispatcher: Final = EventDispatcher(
            (*keywords, DELIVERY),
            phases,
            reactor=reactor,
            ordering=ordering,
            when_stopped="error",
            on_handler_error=on_handler_error,
            handler_timeout=handler_timeout,
            run_id_prefix=self._instance,
        )
        """The node's dispatcher.  Its handlers carry a ``delivery`` match value;
        draw it with :func:`twisted_event_dispatcher.viz.topology`.  A handler
        added to it directly with no ``delivery`` in its spec hears every event
        the node runs, whatever its delivery."""
        self._keywords: Final = keywords
        self._prefetch: Final[int] = _positive("prefetch", prefetch, int)
        self._publish_timeout: Final[float] = float(
            _positive("publish_timeout", publish_timeout, float)
        )
        self._delivery_limit: Final[int] = _positive("delivery_limit", delivery_limit, int)
        self._max_bytes: Final[int] = _positive("max_message_bytes", max_message_bytes, int)
        self._expires_ms: Final = int(
            1000 * _positive("broadcast_queue_expires", broadcast_queue_expires, float)
        )
        self._unconfirmed: Final = DeferredSemaphore(
            _positive("max_unconfirmed", max_unconfirmed, int)
        )
        self._retry_policy: Final = retry_policy or backoffPolicy(
            initialDelay=0.5, maxDelay=30.0, factor=1.5
        )
        self.exchange: Final = f"{cluster_name}.events"
        """The exchange every event is published to."""
        self.dead_letter_queue: Final = f"{cluster_name}.dead-letter"
        """Where messages no node could run end up (behind a fanout exchange of that name)."""
        self.broadcast_queue: Final = f"{cluster_name}.node.{self._instance}"
        """This node's own queue, for its ``"broadcast"`` handlers."""
        self._messages: Final = itertools.count(1)
        # What the node's handlers need of the broker; _reconcile makes it so.
        self._bindings: dict[tuple[str, Binding], set[HandlerId]] = {}
        self._remote: dict[HandlerId, tuple[str, Binding, str | None]] = {}
        self._pools: dict[str, int] = {}
        self._local: set[HandlerId] = set()
        """The node's ``"local"`` handlers: without them, firing runs nothing here."""
        self._service: ClientService | None = None
        self._link: Link | None = None
        self._link_waiters: list[Deferred[Link]] = []
        self._publishing: set[Deferred[Any]] = set()
        self._stopping = False
        self._failed_set_ups = 0

    def __repr__(self) -> str:
        state = "connected" if self._link is not None else "not connected"
        return (
            f"<EventCluster {self.node_name!r} of {self.cluster_name!r} at "
            f"{self._address.redacted} {state}>"
        )

    # -- configuration ----------------------------------------------------------------

    @property
    def phases(self) -> tuple[str, ...]:
        """The configured phases, in the order they run."""
        return self.dispatcher.phases

    @property
    def match_spec_keywords(self) -> tuple[str, ...]:
        """The keywords match specs and event details may use (``delivery`` not included)."""
        return self._keywords

    @property
    def broker(self) -> str:
        """The broker URL with its password replaced by ``***``."""
        return self._address.redacted

    @property
    def connected(self) -> bool:
        """Whether the node is connected, its topology declared and its queues consumed."""
        return self._link is not None

    # -- handlers ---------------------------------------------------------------------

    def add_event_handler(
        self,
        listen_fn: Handler,
        phase: str,
        use_weakref: bool = True,
        *,
        delivery: Delivery = _BROADCAST,
        max_calls: int | None = None,
        timeout: float | None = None,
        priority: int = 0,
        before: HandlerId | Iterable[HandlerId] | None = None,
        after: HandlerId | Iterable[HandlerId] | None = None,
        pass_details: bool = False,
        **match_spec: Any,
    ) -> Deferred[HandlerId]:
        """Register *listen_fn* for events that match *match_spec*, delivered as *delivery* says.

        Args:
            listen_fn: Called with the event, as a dispatcher's handler is.
            phase: One of :attr:`phases`.
            use_weakref: As for the dispatcher.
            delivery: ``"broadcast"`` (the default): every node with a
                matching handler runs it once per event.  A
                :class:`WorkQueue`: one node of that pool runs it, and the
                event is acknowledged only once its run has ended.
                ``"local"``: only events fired by this node.
            max_calls: As for the dispatcher.
            timeout: As for the dispatcher.
            priority: As for the dispatcher: the order within the phase, on
                this node.
            before: As for the dispatcher.
            after: As for the dispatcher.
            pass_details: As for the dispatcher (the details include
                ``delivery``).
            **match_spec: keyword=value pairs; values must be of a type that
                can cross processes (str, int, float, bool, bytes, tuples of
                them); None is a wildcard.

        Returns:
            A Deferred that fires with the handler's id once the broker routes
            matching events to this node (at once while it is not connected:
            the binding is declared when it connects, before it consumes).

        Raises:
            ValueError: The phase, a keyword, a value or *delivery* is not
                allowed.
            TypeError: A value cannot cross processes, or an argument is of
                the wrong type.
        """
        target = self._target(delivery)
        spec = {key: value for key, value in match_spec.items() if value is not None}
        binding = None if target is None else self._routing.binding(spec)
        delivery_spec: dict[str, Any] = {DELIVERY: self._delivery_value(delivery)}
        handler_id: HandlerId = _now(
            self.dispatcher.add_event_handler(
                listen_fn,
                phase,
                use_weakref,
                max_calls=max_calls,
                timeout=timeout,
                priority=priority,
                before=before,
                after=after,
                pass_details=pass_details,
                **delivery_spec,
                **match_spec,
            )
        )
        if target is None or binding is None:
            self._local.add(handler_id)
            return succeed(handler_id)
        queue, pool = target
        self._remote[handler_id] = (queue, binding, pool)
        self._bindings.setdefault((queue, binding), set()).add(handler_id)
        if pool is not None:
            self._pools[pool] = self._pools.get(pool, 0) + 1
        return self._sync().addCallback(lambda _: handler_id)

    def remove_event_handler(self, handler_id: HandlerId) -> Deferred[None]:
        """Remove the handler registered under *handler_id*.

        The node stops running it at once.  A broadcast binding no other
        handler of this node needs is removed from the broker; a pool's
        bindings stay (other nodes of the pool may share them), and the node
        stops consuming a pool once it has no handler left in it.

        Returns:
            A Deferred that fires once the broker is in line, or fails with
            :class:`~twisted_event_dispatcher.UnknownHandlerError`.
        """
        removed = self.dispatcher.remove_event_handler(handler_id)
        if not removed.called or isinstance(getattr(removed, "result", None), Failure):
            return removed
        self._forget(handler_id)
        return removed.addCallback(lambda _: self._sync()).addCallback(lambda _: None)

    def _forget(self, handler_id: HandlerId) -> None:
        self._local.discard(handler_id)
        entry = self._remote.pop(handler_id, None)
        if entry is None:
            return
        queue, binding, pool = entry
        users = self._bindings.get((queue, binding))
        if users is not None:
            users.discard(handler_id)
            if not users:
                del self._bindings[(queue, binding)]
        if pool is not None:
            self._pools[pool] -= 1
            if not self._pools[pool]:
                del self._pools[pool]

    def _prune(self) -> None:
        """Forget handlers the dispatcher no longer has (used up, or collected)."""
        live = {reg.handler_id for reg in self.dispatcher.handlers()}
        for handler_id in [h for h in self._remote if h not in live]:
            self._forget(handler_id)

    def _target(self, delivery: object) -> tuple[str, str | None] | None:
        if delivery == _LOCAL and type(delivery) is str:
            return None
        if delivery == _BROADCAST and type(delivery) is str:
            return (self.broadcast_queue, None)
        if isinstance(delivery, WorkQueue):
            return (self._pool_queue(delivery.pool), delivery.pool)
        raise ValueError(
            f"delivery must be 'broadcast', 'local' or a WorkQueue('pool-name'); got {delivery!r}"
        )

    @staticmethod
    def _delivery_value(delivery: Delivery) -> str:
        return f"pool:{delivery.pool}" if isinstance(delivery, WorkQueue) else delivery

    def _pool_queue(self, pool: str) -> str:
        return f"{self.cluster_name}.pool.{pool}"

    # -- firing -----------------------------------------------------------------------

    def fire_event(self, event: Any, /, **event_details: Any) -> Deferred[Publication]:
        """Publish *event* to the cluster and run this node's ``"local"`` handlers.

        Returns:
            A Deferred that fires with the :class:`Publication` once the broker
            has confirmed the publish and the local run has ended.  It fails
            with :class:`PublishError` when the broker refuses the message or
            the connection is lost before its confirm, with
            :class:`BrokerUnavailable` when no connection is had within
            ``publish_timeout``, and with
            :class:`~twisted_event_dispatcher.DispatcherNotRunning` before
            :meth:`start`.

        Raises:
            ValueError: A key of *event_details* is not allowed, or the
                encoded event is larger than ``max_message_bytes``.
            TypeError: A detail value cannot cross processes.
            EventEncodingError: The codec cannot encode *event*.
        """
        if DELIVERY in event_details:
            raise ValueError(
                f"{DELIVERY!r} is not an event detail of a cluster: the node sets it to say "
                "where the event came from"
            )
        routing_key, routing_headers = self._routing.message_routing(event_details)
        body = self._codec.encode(event)
        if len(body) > self._max_bytes:
            raise ValueError(
                f"the encoded event is {len(body)} bytes; max_message_bytes allows "
                f"{self._max_bytes}"
            )
        if not self.dispatcher.running:
            return fail(
                DispatcherNotRunning(
                    f"cannot fire {type(event).__name__} event: the cluster node "
                    f"{self.node_name!r} is not started; call start() first"
                )
            )
        call = current_call()
        headers = {
            # The current span (the firing handler's) when the dispatcher is instrumented.
            **outgoing_trace_headers(self.dispatcher),
            **routing_headers,
            ROUTING: self._routing.fingerprint,
            DETAILS: encode_details(event_details),
            **origin_headers(
                self.node_name,
                None if call is None else call.run_id,
                None if call is None else call.handler_id,
                None if call is None else call.handler_name,
            ),
        }
        message_id = f"{self._instance}-m{next(self._messages)}"
        local: Deferred[Any] = (
            self.dispatcher.fire_event(event, **{DELIVERY: _LOCAL}, **event_details)
            if self._local
            else succeed(None)
        )
        published = self._publish(message_id, routing_key, headers, body)
        log = get_logger()

        def done(routed: bool) -> Deferred[Publication]:
            log.debug(
                "event_published",
                node=self.node_name,
                message_id=message_id,
                routing_key=routing_key,
                routed=routed,
            )
            return local.addCallback(
                lambda run: Publication(
                    message_id=message_id,
                    exchange=self.exchange,
                    routing_key=routing_key,
                    headers=routing_headers,
                    routed=routed,
                    local_run=run,
                )
            )

        return published.addCallback(done)

    def _publish(
        self, message_id: str, routing_key: str, headers: dict[str, Any], body: bytes
    ) -> Deferred[bool]:
        import pika

        properties = pika.BasicProperties(
            content_type=self._codec.content_type,
            delivery_mode=2,
            message_id=message_id,
            app_id="twisted_event_dispatcher",
            headers=headers,
        )

        async def publish() -> bool:
            await self._unconfirmed.acquire()
            try:
                link = await self._when_linked()
                await link.unblocked()
                try:
                    await link.publisher.basic_publish(
                        self.exchange, routing_key, body, properties, mandatory=True
                    )
                except pika.exceptions.UnroutableError:
                    # pika pins a returned message on the lowest delivery an ack
                    # covers, not always its own: the message id below decides.
                    pass
                except pika.exceptions.NackError:
                    raise PublishError(
                        f"the broker refused message {message_id} (basic.nack)"
                    ) from None
                except (pika.exceptions.AMQPError, ConnectionError) as error:
                    raise PublishError(
                        f"the connection to {self._address.redacted} was lost before the "
                        f"broker confirmed message {message_id} ({type(error).__name__}); "
                        "it may or may not have been delivered"
                    ) from None
                if message_id not in link.returned:
                    return True
                link.returned.discard(message_id)  # a return comes before its ack
                get_logger().info(
                    "event_unrouted",
                    node=self.node_name,
                    message_id=message_id,
                    reason="no node has a matching broadcast or work-queue handler",
                )
                return False
            finally:
                self._unconfirmed.release()

        timeout = self._publish_timeout
        deferred = Deferred.fromCoroutine(publish())

        def timed_out(result: object, _timeout: float) -> object:
            if isinstance(result, Failure) and result.check(CancelledError):
                if self._link is None:
                    raise BrokerUnavailable(
                        f"no connection to {self._address.redacted} within {timeout} seconds; "
                        f"message {message_id} was not published"
                    )
                raise PublishError(
                    f"the broker did not confirm message {message_id} within {timeout} "
                    "seconds; it may or may not have been delivered"
                )
            return result

        deferred.addTimeout(timeout, self.dispatcher.reactor, timed_out)
        self._publishing.add(deferred)
        deferred.addBoth(self._published, deferred)
        return deferred

    def _published(self, result: object, deferred: Deferred[Any]) -> object:
        self._publishing.discard(deferred)
        return result

    # -- lifecycle --------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True from :meth:`start` until :meth:`stop` is called."""
        return self.dispatcher.running

    def start(self) -> None:
        """Start the dispatcher and connect (reconnecting with backoff whenever it is lost).

        Starting a running node changes nothing.
        """
        if self._service is not None:
            return
        self._stopping = False
        self.dispatcher.start()
        reactor = self.dispatcher.reactor
        # The node sets a connection up once pika's handshake is done, not in
        # ClientService's prepareConnection: a connection lost while that runs
        # (a TLS or login failure) meets no transition in ClientService's machine.
        self._service = ClientService(
            self._address.endpoint(reactor),
            PikaFactory(self._address.parameters, reactor, self._attach),
            retryPolicy=self._retry_after,
            clock=reactor,
        )
        self._service.startService()

    def when_connected(self) -> Deferred[None]:
        """Fire once the node is connected, its topology declared and its queues consumed."""
        return self._when_linked().addCallback(lambda _: None)

    def stop(self, timeout: float | None = None) -> Deferred[None]:
        """Stop consuming, drain the runs in flight, acknowledge them, then disconnect.

        Args:
            timeout: Seconds the runs in flight may take; when they run out,
                the dispatcher cancels them, as
                :meth:`~twisted_event_dispatcher.EventDispatcher.stop` does
                (broadcast messages are then acknowledged, work-queue ones
                sent back to their queue).  None waits for ever.

        Every message the node has received (at most ``prefetch`` per queue)
        runs to its end and is acknowledged; the rest stay in the broker.

        Returns:
            A Deferred that fires once the node is disconnected.
        """
        return Deferred.fromCoroutine(self._stop(timeout))

    async def _stop(self, timeout: float | None) -> None:
        service, self._service = self._service, None
        if service is None:
            return
        self._stopping = True
        link = self._link
        if link is not None:
            await link.lock.run(self._stop_consuming, link)
        await self.dispatcher.stop(timeout)
        for publishing in list(self._publishing):
            await publishing.addErrback(lambda _: None)
        if link is not None and not link.lost:
            closed = link.protocol.close()
            if closed is not None:
                await closed
        await service.stopService()
        self._link = None
        for waiter in self._link_waiters:
            waiter.errback(BrokerUnavailable(f"the node {self.node_name!r} was stopped"))
        self._link_waiters.clear()
        get_logger().info("cluster_stopped", node=self.node_name)

    async def _stop_consuming(self, link: Link) -> None:
        for queue, tag in list(link.consuming.items()):
            del link.consuming[queue]
            if not link.lost:
                await link.consumer.basic_cancel(tag)

    # -- the connection ---------------------------------------------------------------

    def _when_linked(self) -> Deferred[Link]:
        if self._link is not None:
            return succeed(self._link)
        waiter: Deferred[Link] = Deferred(self._link_waiters.remove)
        self._link_waiters.append(waiter)
        return waiter

    def _retry_after(self, failed_attempts: int) -> float:
        # ClientService counts failed TCP connections only; a broker that accepts
        # the connection and then refuses the login (or TLS) counts here too.
        return self._retry_policy(failed_attempts + self._failed_set_ups)

    def _attach(self, protocol: Any) -> None:
        """Set *protocol*'s connection up once pika's handshake is done: declare, bind, consume."""

        async def attach() -> None:
            try:
                await self._set_up(protocol)
            except Exception as error:  # noqa: BLE001 -- logged; ClientService reconnects
                self._failed_set_ups += 1
                lost = getattr(protocol, "lost_reason", None)
                cause = error if lost is None else lost.value
                get_logger().error(
                    "cluster_connection_failed",
                    node=self.node_name,
                    broker=self._address.redacted,
                    reason=f"{type(cause).__name__}: {str(cause)[:500]}",
                    attempt=self._failed_set_ups,
                )
                if protocol.transport is not None and protocol.transport.connected:
                    protocol.transport.loseConnection()
            else:
                self._failed_set_ups = 0

        Deferred.fromCoroutine(attach())

    async def _set_up(self, protocol: Any) -> None:
        ready = protocol.ready
        if ready is None:  # pika fires it once, and clears it
            raise ConnectionError("the connection was lost before it was ready")
        await ready
        if self._stopping:
            raise ConnectionError("the node is stopping")
        link = Link(protocol)
        impl = protocol._impl
        impl.add_on_connection_blocked_callback(link.on_blocked)
        impl.add_on_connection_unblocked_callback(link.on_unblocked)
        link.publisher = await protocol.channel()
        await link.publisher.confirm_delivery()
        link.publisher.add_on_return_callback(
            lambda message: link.returned.add(message.properties.message_id)
        )
        link.consumer = await protocol.channel()
        await link.consumer.basic_qos(prefetch_count=self._prefetch)
        channel = link.consumer
        await channel.exchange_declare(
            self.dead_letter_queue, exchange_type="fanout", durable=True
        )
        await channel.queue_declare(self.dead_letter_queue, durable=True)
        await channel.queue_bind(self.dead_letter_queue, self.dead_letter_queue)
        await channel.exchange_declare(
            self.exchange, exchange_type=self._routing.exchange_type, durable=True
        )
        await channel.queue_declare(
            self.broadcast_queue,
            arguments={
                "x-expires": self._expires_ms,
                "x-dead-letter-exchange": self.dead_letter_queue,
            },
        )
        await link.lock.run(self._reconcile, link)
        await self._consume(link, self.broadcast_queue, _BROADCAST)
        for channel_ in (link.publisher, link.consumer):
            channel_.on_closed.addBoth(self._channel_closed, link)
        protocol.closed.addBoth(self._lost, link)
        self._link = link
        get_logger().info(
            "cluster_connected",
            node=self.node_name,
            broker=self._address.redacted,
            exchange=self.exchange,
            routing=self._routing.exchange_type,
        )
        waiters, self._link_waiters = self._link_waiters, []
        for waiter in waiters:
            waiter.callback(link)

    def _channel_closed(self, reason: object, link: Link) -> None:
        from pika.exceptions import ChannelClosedByBroker

        # pika closes the channels of a lost connection too, before the
        # connection's own closed Deferred fires: that is _lost's to log.
        if link.lost or self._stopping or not isinstance(reason, ChannelClosedByBroker):
            return
        # A channel error (a declaration the broker refused): start afresh.
        get_logger().error("cluster_channel_closed", node=self.node_name, reason=str(reason)[:500])
        link.protocol.transport.loseConnection()

    def _lost(self, reason: object, link: Link) -> None:
        link.lost = True
        if self._link is link:
            self._link = None
        if not self._stopping:
            get_logger().warning(
                "cluster_disconnected",
                node=self.node_name,
                broker=self._address.redacted,
                reason=str(reason)[:500],
            )

    def _sync(self) -> Deferred[None]:
        link = self._link
        if link is None:
            return succeed(None)

        def lost(failure: Failure) -> None:
            if not link.lost:
                failure.raiseException()
            # The connection went: the next one declares what this one could not.

        reconciled: Deferred[None] = link.lock.run(self._reconcile, link)
        return reconciled.addErrback(lost)

    async def _reconcile(self, link: Link) -> None:
        """Bring *link*'s bindings and consumers in line with what the handlers need."""
        channel = link.consumer
        for pool in list(self._pools):
            queue = self._pool_queue(pool)
            if pool not in link.declared_pools:
                await channel.queue_declare(
                    queue,
                    durable=True,
                    arguments={
                        "x-queue-type": "quorum",
                        "x-delivery-limit": self._delivery_limit,
                        "x-dead-letter-exchange": self.dead_letter_queue,
                    },
                )
                link.declared_pools.add(pool)
        for queue, binding in [key for key in self._bindings if key not in link.bound]:
            await channel.queue_bind(
                queue,
                self.exchange,
                routing_key=binding.routing_key,
                arguments=dict(binding.arguments),
            )
            link.bound.add((queue, binding))
        for queue, binding in [
            key
            for key in link.bound
            if key not in self._bindings and key[0] == self.broadcast_queue
        ]:
            await channel.queue_unbind(
                queue,
                self.exchange,
                routing_key=binding.routing_key,
                arguments=dict(binding.arguments),
            )
            link.bound.discard((queue, binding))
        if self._stopping:
            return
        for pool in self._pools:
            queue = self._pool_queue(pool)
            if queue not in link.consuming:
                await self._consume(link, queue, f"pool:{pool}")
        pools = {self._pool_queue(pool) for pool in self._pools}
        for queue, tag in list(link.consuming.items()):
            if queue != self.broadcast_queue and queue not in pools:
                del link.consuming[queue]
                await channel.basic_cancel(tag)

    # -- receiving --------------------------------------------------------------------

    async def _consume(self, link: Link, queue: str, delivery: str) -> None:
        messages, tag = await link.consumer.basic_consume(queue=queue)
        link.consuming[queue] = tag

        def next_message(_: object = None) -> None:
            while True:
                got = messages.get()
                if not got.called:
                    got.addCallbacks(received, lambda _: None)
                    return
                box: list[Any] = []
                got.addBoth(box.append)
                if isinstance(box[0], Failure):
                    return  # the consumer was cancelled, or its channel closed
                self._receive(box[0], queue, delivery)

        def received(message: Any) -> None:
            self._receive(message, queue, delivery)
            next_message()

        next_message()

    def _unpack(
        self, properties: Any, body: bytes, queue: str, *, redelivered: bool
    ) -> tuple[Envelope, Any]:
        envelope = Envelope.read(
            properties.headers,
            fingerprint=self._routing.fingerprint,
            message_id=properties.message_id,
            queue=queue,
            redelivered=redelivered,
            trace_context=incoming_trace_context(self.dispatcher, properties.headers),
        )
        if len(body) > self._max_bytes:
            raise MessageRejected(
                f"the body is {len(body)} bytes; max_message_bytes allows {self._max_bytes}"
            )
        if DELIVERY in envelope.details:
            raise MessageRejected(f"the details name the reserved key {DELIVERY!r}")
        return envelope, self._codec.decode(body)

    def _receive(self, message: Any, queue: str, delivery: str) -> None:
        channel, method, properties, body = message
        tag = method.delivery_tag
        try:
            envelope, event = self._unpack(
                properties, body, queue, redelivered=bool(method.redelivered)
            )
            ran = self.dispatcher.fire_event_from(
                envelope.origin, event, **{DELIVERY: delivery}, **envelope.details
            )
        except (ValueError, TypeError) as error:  # MessageRejected is a ValueError
            get_logger().error(
                "message_dead_lettered",
                node=self.node_name,
                queue=queue,
                message_id=str(properties.message_id)[:200],
                reason=f"{type(error).__name__}: {str(error)[:500]}",
            )
            self._settle_message(channel, tag, requeue=False, dead_letter=True)
            return
        ran.addBoth(self._run_ended, channel, tag, envelope.origin, delivery)

    def _run_ended(
        self, run: EventRun | Failure, channel: Any, tag: int, origin: RemoteOrigin, delivery: str
    ) -> None:
        log = get_logger()
        if isinstance(run, Failure):  # the node stopped before the run could start
            log.warning(
                "message_requeued",
                node=self.node_name,
                queue=origin.queue,
                message_id=origin.message_id,
                reason=run.getErrorMessage()[:500],
            )
            self._settle_message(channel, tag, requeue=True)
            return
        if delivery == _BROADCAST:
            if not run.outcomes:
                self._prune()
                self._sync()
            self._settle_message(channel, tag)
            return
        reason = None
        if not run.outcomes:
            self._prune()
            reason = f"no handler of this node for {delivery!r} matches it"
        elif run.status != "completed" or run.failures:
            reason = f"its run {run.run_id} ended {run.status} with {len(run.failures)} failure(s)"
        if reason is None:
            self._settle_message(channel, tag)
            return
        deliveries = (origin.delivery_count or 0) + 1
        log.warning(
            "message_requeued",
            node=self.node_name,
            queue=origin.queue,
            message_id=origin.message_id,
            run_id=run.run_id,
            reason=reason,
            delivery=deliveries,
            delivery_limit=self._delivery_limit,
            dead_letter_next=deliveries > self._delivery_limit,
        )
        self._settle_message(channel, tag, requeue=True)
        if not run.outcomes:
            self._sync()

    def _settle_message(
        self, channel: Any, tag: int, *, requeue: bool = False, dead_letter: bool = False
    ) -> None:
        try:
            if dead_letter:
                channel.basic_reject(tag, requeue=False)
            elif requeue:
                channel.basic_nack(tag, requeue=True)
            else:
                channel.basic_ack(tag)
        except Exception as error:  # noqa: BLE001 -- a closed channel: the broker redelivers
            get_logger().info(
                "message_settle_lost",
                node=self.node_name,
                reason=f"{type(error).__name__}: the broker will deliver the message again",
            )

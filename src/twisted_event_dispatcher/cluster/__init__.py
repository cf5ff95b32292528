"""Events that cross processes through RabbitMQ, with the same match specs.

An :class:`EventCluster` is one node: it has the dispatcher's API, and a
handler's ``delivery`` says which events it hears: ``"broadcast"`` (every
node with a matching handler), a :class:`WorkQueue` (one node of a pool,
at least once) or ``"local"``.  :class:`ClusterService` runs a node in a
Twisted application.  The pure pieces it builds on are here too: how match
specs map onto AMQP routing (:func:`make_routing`, :func:`canonical_value`)
and how events cross as bytes (:class:`Codec`, :class:`JsonCodec`).

pika is imported only by this package.

.. versionadded:: 1.1
"""

from __future__ import annotations

from twisted_event_dispatcher.cluster._address import BrokerAddress
from twisted_event_dispatcher.cluster._codec import (
    Codec,
    EventDecodingError,
    EventEncodingError,
    JsonCodec,
)
from twisted_event_dispatcher.cluster._errors import BrokerUnavailable, PublishError
from twisted_event_dispatcher.cluster._node import EventCluster
from twisted_event_dispatcher.cluster._records import (
    Delivery,
    Publication,
    RemoteOrigin,
    WorkQueue,
)
from twisted_event_dispatcher.cluster._routing import (
    MAX_TOPIC_KEYWORDS,
    ROUTING_MODES,
    Binding,
    HeadersRouting,
    Routing,
    RoutingMode,
    TopicRouting,
    canonical_value,
    make_routing,
)
from twisted_event_dispatcher.cluster._service import ClusterService

__all__ = [
    "MAX_TOPIC_KEYWORDS",
    "ROUTING_MODES",
    "Binding",
    "BrokerAddress",
    "BrokerUnavailable",
    "ClusterService",
    "Codec",
    "Delivery",
    "EventCluster",
    "EventDecodingError",
    "EventEncodingError",
    "HeadersRouting",
    "JsonCodec",
    "Publication",
    "PublishError",
    "RemoteOrigin",
    "Routing",
    "RoutingMode",
    "TopicRouting",
    "WorkQueue",
    "canonical_value",
    "make_routing",
]

"""Events that cross processes through RabbitMQ, with the same match specs.

This part holds the pure pieces a cluster node builds on: how match specs
map onto AMQP routing (:func:`make_routing`, :func:`canonical_value`) and how
events cross as bytes (:class:`Codec`, :class:`JsonCodec`).

.. versionadded:: 1.1
"""

from __future__ import annotations

from twisted_event_dispatcher.cluster._codec import (
    Codec,
    EventDecodingError,
    EventEncodingError,
    JsonCodec,
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

__all__ = [
    "MAX_TOPIC_KEYWORDS",
    "ROUTING_MODES",
    "Binding",
    "Codec",
    "EventDecodingError",
    "EventEncodingError",
    "HeadersRouting",
    "JsonCodec",
    "Routing",
    "RoutingMode",
    "TopicRouting",
    "canonical_value",
    "make_routing",
]

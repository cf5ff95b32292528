"""The trace context through the real RabbitMQ: node b's run is a child of node a's handler.

crochet runs the global reactor in a thread of its own; the scenario runs there
as one coroutine.  The test's cluster name is its own, and its exchanges and
queues are deleted afterwards.
"""

from __future__ import annotations

import uuid
from typing import Any

import pika
import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred

from otel_support import Spans, is_child
from reactor_support import in_reactor, reactor
from twisted_event_dispatcher import current_call
from twisted_event_dispatcher.cluster import EventCluster
from twisted_event_dispatcher.otel import instrument

pytestmark = [pytest.mark.reactor, pytest.mark.broker]

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def test_the_trace_crosses_the_broker() -> None:
    """A run in node b, for an event a handler in node a fired, is that handler's child span."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    spans = Spans()
    received: list[str | None] = []
    nodes: list[EventCluster] = []

    async def scenario() -> None:
        a, b = (
            EventCluster(URL, ("kind",), node_name=node, cluster_name=name, reactor=reactor)
            for node in ("a", "b")
        )
        nodes.extend((a, b))
        for node in (a, b):
            instrument(node.dispatcher, tracer_provider=spans.provider)
            node.start()

        def place(event: object) -> Deferred[Any]:
            return a.fire_event({"receipt for": event}, kind="receipt")

        def receipt(event: object) -> None:
            call = current_call()
            received.append(None if call is None else call.run_id)

        await a.add_event_handler(place, "during", delivery="local", kind="order")
        await b.add_event_handler(receipt, "during", kind="receipt")
        await a.when_connected()
        await b.when_connected()
        await a.fire_event("o-1", kind="order")
        for _ in range(500):
            if received:
                break
            await task.deferLater(reactor, 0.02, lambda: None)
        for node in (a, b):
            await node.stop()

    try:
        in_reactor(scenario)
    finally:
        connection = pika.BlockingConnection(pika.URLParameters(URL))
        channel = connection.channel()
        for queue in [f"{name}.dead-letter", *(node.broadcast_queue for node in nodes)]:
            channel.queue_delete(queue)
        for exchange in (f"{name}.events", f"{name}.dead-letter"):
            channel.exchange_delete(exchange)
        connection.close()
        spans.provider.shutdown()
    assert len(received) == 1
    handler = spans.ending(".place")
    [remote] = [
        span
        for span in spans.named("run dict")
        if dict(span.attributes or {}).get("ted.run.id") == received[0]
    ]
    assert is_child(remote, handler)
    assert dict(remote.attributes or {})["ted.origin.node"] == "a"

"""Against the real RabbitMQ on 127.0.0.1:5672: both routing modes deliver as local matching does.

These tests need the broker; they fail (never skip) when it does not answer.
``make test`` starts it first.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import pytest

from strategies import ROUTING_VALUES, spec_matches
from twisted_event_dispatcher.cluster import ROUTING_MODES, RoutingMode, make_routing

BROKER = pika.ConnectionParameters(
    host="127.0.0.1",
    port=5672,
    credentials=pika.PlainCredentials("guest", "guest"),
    connection_attempts=1,
    socket_timeout=10,
    blocked_connection_timeout=60,
)

KEYWORDS = ("region", "kind", "priority", "tags")
"""The allowed keywords: four, listed unsorted on purpose."""


@dataclass
class Broker:
    """A connection with a confirming channel, and what the test declared on it."""

    connection: Any
    channel: Any
    exchanges: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        """Delete every queue and exchange this test declared, on a fresh channel if need be."""
        if self.connection.is_closed:
            self.connection = _connect()
        channel = self.connection.channel()
        for queue in self.queues:
            channel.queue_delete(queue)
        for exchange in self.exchanges:
            channel.exchange_delete(exchange)
        self.connection.close()


def _connect() -> Any:
    try:
        return pika.BlockingConnection(BROKER)
    except pika.exceptions.AMQPError as error:
        pytest.fail(
            f"RabbitMQ does not answer on {BROKER.host}:{BROKER.port} as guest/guest ({error!r}); "
            "these tests need it running: start it with `rabbitmq-server -detached` "
            "(make test starts it)"
        )


@pytest.fixture
def broker() -> Iterator[Broker]:
    """Yield a confirming channel on the real broker; delete what the test declared after."""
    connection = _connect()
    channel = connection.channel()
    channel.confirm_delivery()
    state = Broker(connection, channel)
    yield state
    state.cleanup()


def _random_values(rng: random.Random, keywords: Sequence[str], size: int) -> dict[str, Any]:
    """Return up to *size* of *keywords* with values from the mixed domain, or None."""
    chosen = rng.sample(list(keywords), rng.randint(0, size))
    return {name: rng.choice((None, *ROUTING_VALUES)) for name in chosen}


def _deliver(
    broker: Broker,
    mode: RoutingMode,
    specs: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
) -> list[list[int]]:
    """Bind one queue per spec, publish every event, and return the event numbers per queue."""
    routing = make_routing(mode, KEYWORDS)
    channel = broker.channel
    name = f"ted-test-routing-{mode}-{uuid.uuid4().hex}"
    channel.exchange_declare(name, exchange_type=routing.exchange_type)
    broker.exchanges.append(name)
    queues = []
    for index, spec in enumerate(specs):
        queue = f"{name}-{index}"
        channel.queue_declare(queue, exclusive=True)
        broker.queues.append(queue)
        binding = routing.binding(spec)
        channel.queue_bind(
            queue, name, routing_key=binding.routing_key, arguments=dict(binding.arguments)
        )
        queues.append(queue)
    for number, details in enumerate(events):
        routing_key, headers = routing.message_routing(details)
        # The channel confirms: when basic_publish returns, every matching queue holds the event.
        channel.basic_publish(
            name, routing_key, str(number).encode(), pika.BasicProperties(headers=headers)
        )
    received = []
    for queue in queues:
        numbers = []
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            numbers.append(int(body))
        received.append(sorted(numbers))
    return received


def test_broker_routes_as_local_matching(broker: Broker) -> None:
    """Each queue receives exactly the events its spec matches locally, in both modes alike."""
    rng = random.Random(9)  # noqa: S311 - reproducible test data, not a secret
    specs: list[dict[str, Any]] = [{}, dict.fromkeys(KEYWORDS, 1)]
    specs += [_random_values(rng, KEYWORDS, 3) for _ in range(40)]
    events: list[dict[str, Any]] = [{}, dict.fromkeys(KEYWORDS, True)]
    events.append(dict.fromkeys(KEYWORDS, 1.0))
    events += [_random_values(rng, KEYWORDS, 4) for _ in range(300)]
    expected = [
        [number for number, details in enumerate(events) if spec_matches(spec, details)]
        for spec in specs
    ]
    # The data exercises what matters: selective specs, and equality across types.
    assert 0 < sum(map(len, expected[2:])) < len(events) * (len(specs) - 2)
    assert any(
        type(value) is not type(details[key])
        for spec, numbers in zip(specs, expected, strict=True)
        for details in (events[number] for number in numbers)
        for key, value in spec.items()
        if value is not None
    )

    delivered = {mode: _deliver(broker, mode, specs, events) for mode in ROUTING_MODES}

    for mode, received in delivered.items():
        for spec, wanted, got in zip(specs, expected, received, strict=True):
            assert got == wanted, f"{mode} routing delivered other events for spec {spec!r}"
    assert delivered["topic"] == delivered["headers"]

"""How a node reads its channels closing: a channel error, or only its connection going."""

from __future__ import annotations

import pytest
from pika import exceptions
from structlog.testing import capture_logs
from twisted.internet import error
from twisted.internet.task import Clock

from twisted_event_dispatcher.cluster import EventCluster
from twisted_event_dispatcher.cluster._link import Link


class _Transport:
    def __init__(self) -> None:
        self.lost = 0

    def loseConnection(self) -> None:  # Twisted's name
        self.lost += 1


class _Protocol:
    def __init__(self) -> None:
        self.transport = _Transport()


@pytest.mark.parametrize(
    "reason",
    [
        exceptions.ConnectionClosedByBroker(320, "CONNECTION_FORCED - closed by an operator"),
        exceptions.StreamLostError("Transport indicated EOF"),
        exceptions.ConnectionClosedByClient(200, "Normal shutdown"),
        error.ConnectionDone(),  # what pika's Twisted adapter passes for a closed socket
    ],
)
def test_channels_closed_with_their_connection_are_no_channel_error(reason: Exception) -> None:
    """Channels closed because the connection went log no channel error and close nothing."""
    node = EventCluster("amqp://guest:guest@127.0.0.1/", ("kind",), reactor=Clock())
    protocol = _Protocol()
    with capture_logs() as logs:
        node._channel_closed(reason, Link(protocol))
    assert logs == []
    assert protocol.transport.lost == 0


def test_a_channel_the_broker_closes_drops_the_connection() -> None:
    """A channel the broker closes on a live connection is logged, and the node starts afresh."""
    node = EventCluster("amqp://guest:guest@127.0.0.1/", ("kind",), reactor=Clock())
    protocol = _Protocol()
    reason = exceptions.ChannelClosedByBroker(406, "PRECONDITION_FAILED - inequivalent arg")
    with capture_logs() as logs:
        node._channel_closed(reason, Link(protocol))
    assert [(log["event"], log["log_level"]) for log in logs] == [
        ("cluster_channel_closed", "error")
    ]
    assert "PRECONDITION_FAILED" in logs[0]["reason"]
    assert protocol.transport.lost == 1

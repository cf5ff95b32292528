"""The trace context across cluster nodes: the firing handler's span is the remote run's parent.

No broker: the sending node's publish is recorded, and the receiving node is
handed the message as its consumer would hand it (``_receive``), on a Clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import SpanKind
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from otel_support import Spans, is_child
from twisted_event_dispatcher import CurrentCall, RunOrigin, current_call
from twisted_event_dispatcher.cluster import EventCluster
from twisted_event_dispatcher.otel import instrument
from twisted_event_dispatcher.testing import result_of

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
def spans() -> Iterator[Spans]:
    """A tracer provider that keeps every finished span in memory, shut down after the test."""
    recorded = Spans()
    yield recorded
    recorded.provider.shutdown()


class _Channel:
    def __init__(self) -> None:
        self.answers: list[tuple[str, int]] = []

    def basic_ack(self, tag: int) -> None:
        self.answers.append(("ack", tag))


class _Method:
    def __init__(self, tag: int) -> None:
        self.delivery_tag = tag
        self.redelivered = False


class _Properties:
    def __init__(self, headers: dict[str, Any], message_id: str) -> None:
        self.headers = headers
        self.message_id = message_id


class Wire:
    """Two nodes on Clocks, and the messages the first one publishes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.a = EventCluster(URL, ("kind",), node_name="a", reactor=Clock())
        self.b = EventCluster(URL, ("kind",), node_name="b", reactor=Clock())
        self.published: list[tuple[str, dict[str, Any], bytes]] = []
        self.channel = _Channel()
        for node in (self.a, self.b):
            node.dispatcher.start()
        monkeypatch.setattr(self.a, "_publish", self._publish)

    def _publish(
        self, message_id: str, routing_key: str, headers: dict[str, Any], body: bytes
    ) -> Deferred[bool]:
        self.published.append((message_id, headers, body))
        return succeed(True)

    def deliver(self, index: int = -1, **extra_headers: object) -> None:
        """Hand node b the *index*-th message a published, with *extra_headers* added."""
        message_id, headers, body = self.published[index]
        properties = _Properties({**headers, **extra_headers}, message_id)
        self.b._receive(
            (self.channel, _Method(len(self.channel.answers) + 1), properties, body),
            "q",
            "broadcast",
        )


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    """Two nodes whose messages go from a to b by hand."""
    return Wire(monkeypatch)


def test_remote_run_is_a_child_of_the_firing_handler(spans: Spans, wire: Wire) -> None:
    """A run in node b, for a message a handler in node a fired, is that handler's span's child."""

    def place(event: object) -> Deferred[Any]:
        return wire.a.fire_event({"receipt for": event}, kind="receipt")

    def receipt(event: object) -> None:
        pass

    result_of(wire.a.add_event_handler(place, "during", delivery="local", kind="order"))
    result_of(wire.b.add_event_handler(receipt, "during", kind="receipt"))
    instrument(wire.a.dispatcher, tracer_provider=spans.provider)
    instrument(wire.b.dispatcher, tracer_provider=spans.provider)
    result_of(wire.a.fire_event("o-1", kind="order"))
    # The local run (and the receipt its handler fires) goes before the order's publish.
    receipt_message, order_message = wire.published
    assert "traceparent" not in order_message[1]  # fired outside any span
    wire.deliver(0)
    assert wire.channel.answers == [("ack", 1)]
    handler = spans.ending(".place")
    remote = spans.named("run dict")[-1]
    assert is_child(remote, handler)
    assert remote.kind is SpanKind.CONSUMER
    assert handler.context is not None
    assert receipt_message[1]["traceparent"].startswith(
        f"00-{handler.context.trace_id:032x}-{handler.context.span_id:016x}-"
    )
    assert dict(remote.attributes or {})["ted.origin.node"] == "a"
    assert spans.ending(".receipt").parent is not None


def test_the_trace_state_travels_too(spans: Spans, wire: Wire) -> None:
    """A tracestate from the firing side reaches the receiving run's origin."""
    origins: list[CurrentCall | None] = []

    def receipt(event: object) -> None:
        origins.append(current_call())

    result_of(wire.b.add_event_handler(receipt, "during", kind="receipt"))
    instrument(wire.b.dispatcher, tracer_provider=spans.provider)
    result_of(wire.a.fire_event("r", kind="receipt"))
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    wire.deliver(traceparent=parent.encode(), tracestate="vendor=x" * 200, baggage=7)
    [call] = origins
    assert call is not None
    assert call.origin is not None
    assert call.origin.trace_context == (
        ("traceparent", parent),
        ("tracestate", ("vendor=x" * 200)[:1000]),
    )
    run = spans.one("run str")
    assert run.parent is not None
    assert run.parent.span_id == 0xB7AD6B7169203331


def test_uninstrumented_nodes_carry_no_trace_context(spans: Spans, wire: Wire) -> None:
    """Without instrumentation, no traceparent is sent, and one received is not read."""
    origins: list[CurrentCall | None] = []

    def place(event: object) -> Deferred[Any]:
        return wire.a.fire_event("r", kind="receipt")

    def receipt(event: object) -> None:
        origins.append(current_call())

    result_of(wire.a.add_event_handler(place, "during", delivery="local", kind="order"))
    result_of(wire.b.add_event_handler(receipt, "during", kind="receipt"))
    with spans.provider.get_tracer("app").start_as_current_span("request"):
        result_of(wire.a.fire_event("o", kind="order"))
    assert all("traceparent" not in headers for _, headers, _ in wire.published)
    wire.deliver(0, traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    [call] = origins
    assert call is not None
    assert call.origin is not None
    assert call.origin.trace_context == ()
    assert [span.name for span in spans.all()] == ["request"]


@pytest.mark.parametrize(
    "trace_context",
    [
        [("traceparent", "x")],
        (("traceparent",),),
        (("traceparent", b"x"),),
        ((type("S", (str,), {})("traceparent"), "x"),),
        "traceparent",
    ],
)
def test_a_trace_context_is_plain_text(trace_context: Any) -> None:
    """An origin's trace context is a tuple of (name, value) pairs of plain str, or refused."""
    with pytest.raises(TypeError, match=r"trace_context must be a tuple of .* got "):
        RunOrigin("n", trace_context=trace_context)
    assert RunOrigin("n", trace_context=(("a", "b"),)).trace_context == (("a", "b"),)

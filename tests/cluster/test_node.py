"""The cluster node's own logic, with no broker: validation, records, reprs and errors."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from support import TestCase
from twisted_event_dispatcher import DispatcherNotRunning, current_call
from twisted_event_dispatcher.cluster import (
    BrokerAddress,
    ClusterService,
    EventCluster,
    EventEncodingError,
    WorkQueue,
)
from twisted_event_dispatcher.cluster._wire import (
    DETAILS,
    ORIGIN_NODE,
    ROUTING,
    Envelope,
    MessageRejected,
    decode_details,
    encode_details,
)

URL = "amqp://guest:s3cret-pw@127.0.0.1:5672/%2F"


def node(**options: Any) -> EventCluster:
    """Return a node on a Clock that never connects."""
    options.setdefault("node_name", "n1")
    options.setdefault("reactor", Clock())
    return EventCluster(URL, ("kind", "user"), **options)


def test_password_never_in_reprs_or_errors() -> None:
    """The broker password appears in no repr, property or error message."""
    cluster = node()
    service = ClusterService(cluster)
    for text in (repr(cluster), cluster.broker, repr(service), repr(BrokerAddress(URL))):
        assert "s3cret-pw" not in text
        assert "guest:***@127.0.0.1" in text
    with pytest.raises(ValueError, match="amqp://") as info:
        EventCluster("http://guest:s3cret-pw@host/", ("kind",))
    assert "s3cret-pw" not in str(info.value)
    with pytest.raises(ValueError, match="is not a URL") as info:
        EventCluster("amqp://guest:s3cret-pw@host:notaport/", ("kind",))
    assert "s3cret-pw" not in str(info.value)


def test_options_are_checked() -> None:
    """Names, keywords, modes and numbers are checked, naming the value and what is allowed."""
    with pytest.raises(ValueError, match="'delivery' cannot be a match keyword"):
        EventCluster(URL, ("delivery",))
    with pytest.raises(TypeError, match="sequence of names"):
        EventCluster(URL, "kind")
    with pytest.raises(ValueError, match=r"node_name must be .* got 'has space'"):
        node(node_name="has space")
    with pytest.raises(ValueError, match=r"cluster_name must be .* got ''"):
        node(cluster_name="")
    with pytest.raises(ValueError, match="'fanout'"):
        node(routing="fanout")
    with pytest.raises(ValueError, match="prefetch must be > 0; got 0"):
        node(prefetch=0)
    with pytest.raises(TypeError, match="publish_timeout must be a positive float; got 'x'"):
        node(publish_timeout="x")
    with pytest.raises(ValueError, match="pool must be a non-empty str"):
        WorkQueue("")


def test_names_of_the_topology() -> None:
    """Exchanges and queues are named after the cluster, the node and the pool."""
    cluster = node(cluster_name="shop")
    assert cluster.exchange == "shop.events"
    assert cluster.dead_letter_queue == "shop.dead-letter"
    assert cluster.broadcast_queue.startswith("shop.node.n1.")
    assert cluster.match_spec_keywords == ("kind", "user")
    assert cluster.dispatcher.match_spec_keywords == ("kind", "user", "delivery")
    assert cluster.phases == ("before", "during", "after")
    assert not cluster.connected
    assert not cluster.running


class HandlerTests(TestCase):
    """Registration while not connected: recorded for the next connection."""

    def test_delivery_is_part_of_the_spec(self) -> None:
        """Each handler is registered with its delivery as a match value."""
        cluster = node()
        calls: list[Any] = []
        ids = [
            self.successResultOf(
                cluster.add_event_handler(calls.append, "during", False, kind="a")
            ),
            self.successResultOf(
                cluster.add_event_handler(
                    calls.append, "after", False, delivery=WorkQueue("mail"), kind="a"
                )
            ),
            self.successResultOf(
                cluster.add_event_handler(calls.append, "before", False, delivery="local")
            ),
        ]
        specs = {reg.handler_id: dict(reg.match_spec) for reg in cluster.dispatcher.handlers()}
        assert [specs[i] for i in ids] == [
            {"kind": "a", "delivery": "broadcast"},
            {"kind": "a", "delivery": "pool:mail"},
            {"delivery": "local"},
        ]

    def test_bad_handlers_are_refused(self) -> None:
        """Bad deliveries, phases and values are refused before anything is registered."""
        cluster = node()
        with pytest.raises(ValueError, match="delivery must be 'broadcast', 'local' or a"):
            cluster.add_event_handler(print, "during", delivery="everywhere")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="unknown phase 'nope'"):
            cluster.add_event_handler(print, "nope", kind="a")
        with pytest.raises(TypeError, match="kind"):
            cluster.add_event_handler(print, "during", kind=object())
        with pytest.raises(ValueError, match="'colour'"):
            cluster.add_event_handler(print, "during", colour="red")
        assert cluster.dispatcher.handlers() == []

    def test_remove(self) -> None:
        """A removed handler is gone; an unknown id fails with UnknownHandlerError."""
        cluster = node()
        handler_id = self.successResultOf(
            cluster.add_event_handler(print, "during", delivery=WorkQueue("p"), kind="a")
        )
        self.successResultOf(cluster.remove_event_handler(handler_id))
        assert cluster.dispatcher.handlers() == []
        self.failureResultOf(cluster.remove_event_handler(handler_id), KeyError)


class FireTests(TestCase):
    """What fire_event refuses before it publishes anything."""

    def test_not_started(self) -> None:
        """Before start(), firing fails with DispatcherNotRunning and nothing runs."""
        cluster = node()
        calls: list[Any] = []
        cluster.add_event_handler(calls.append, "during", False, delivery="local")
        failure = self.failureResultOf(cluster.fire_event("e", kind="a"), DispatcherNotRunning)
        assert "'n1' is not started" in failure.getErrorMessage()
        assert calls == []

    def test_bad_events(self) -> None:
        """Events and details that cannot cross processes are refused at once, by name."""
        cluster = node()
        with pytest.raises(EventEncodingError, match="object"):
            cluster.fire_event(object(), kind="a")
        with pytest.raises(ValueError, match="'delivery' is not an event detail"):
            cluster.fire_event("e", delivery="x")
        with pytest.raises(TypeError, match="user"):
            cluster.fire_event("e", user=[1, 2])
        with pytest.raises(ValueError, match="max_message_bytes allows 100"):
            node(max_message_bytes=100).fire_event("x" * 200)


def test_details_round_trip() -> None:
    """Details cross as tagged JSON: tuples and bytes come back as they were."""
    details = {
        "a": "s",
        "b": 1,
        "c": 1.5,
        "d": True,
        "e": (1, ("x", b"\x00\xff")),
        "f": b"raw",
        "g": float("-inf"),
    }
    assert decode_details(encode_details(details)) == details
    assert type(decode_details(encode_details({"t": (1,)}))["t"]) is tuple


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (None, "fingerprint None"),
        ({ROUTING: "other"}, "fingerprint 'other'"),
        ({ROUTING: "fp"}, "'ted-details' header is missing"),
        ({ROUTING: "fp", DETAILS: "{"}, "is not JSON"),
        ({ROUTING: "fp", DETAILS: "[]"}, "not a JSON object"),
        ({ROUTING: "fp", DETAILS: '{"a": [1]}'}, "JSON list"),
        ({ROUTING: "fp", DETAILS: '{"a": {"b": "!!"}}'}, "not valid base64"),
        ({ROUTING: "fp", DETAILS: '{"a": {"z": 1}}'}, "unknown tagged"),
        ({ROUTING: "fp", DETAILS: "{}"}, "'ted-origin-node' header is missing"),
        ({ROUTING: "fp", DETAILS: "[" * 100_000 + "]" * 100_000}, "not"),
    ],
)
def test_malformed_headers_are_rejected(headers: dict[str, Any] | None, reason: str) -> None:
    """A message with missing or malformed headers is rejected with the reason."""
    with pytest.raises(MessageRejected, match=reason):
        Envelope.read(headers, fingerprint="fp", message_id="m", queue="q", redelivered=False)


def test_envelope_reads_the_origin() -> None:
    """The origin names the firing node, run and handler, and the broker's delivery facts."""
    envelope = Envelope.read(
        {
            ROUTING: "fp",
            DETAILS: encode_details({"kind": "a"}),
            ORIGIN_NODE: b"web",
            "ted-origin-run": "web.1-3",
            "ted-origin-handler-id": 4,
            "ted-origin-handler": "shop.place",
            "x-delivery-count": 2,
        },
        fingerprint="fp",
        message_id="web.1-m9",
        queue="q",
        redelivered=True,
    )
    assert envelope.details == {"kind": "a"}
    origin = envelope.origin
    assert (origin.node, origin.run_id, origin.handler_id, origin.handler_name) == (
        "web",
        "web.1-3",
        4,
        "shop.place",
    )
    assert (origin.message_id, origin.queue, origin.redelivered, origin.delivery_count) == (
        "web.1-m9",
        "q",
        True,
        2,
    )


class _Channel:
    """Records what the node answers the broker for each delivery tag."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, int, bool | None]] = []

    def basic_ack(self, tag: int) -> None:
        self.answers.append(("ack", tag, None))

    def basic_nack(self, tag: int, requeue: bool) -> None:
        self.answers.append(("nack", tag, requeue))

    def basic_reject(self, tag: int, requeue: bool) -> None:
        self.answers.append(("reject", tag, requeue))


class _Method:
    def __init__(self, tag: int, *, redelivered: bool = False) -> None:
        self.delivery_tag = tag
        self.redelivered = redelivered


class _Properties:
    def __init__(self, headers: dict[str, Any] | None, message_id: str = "m-1") -> None:
        self.headers = headers
        self.message_id = message_id


def _message(
    cluster: EventCluster, tag: int, body: bytes = b'"e"', **details: Any
) -> tuple[_Method, _Properties, bytes]:
    headers = {
        ROUTING: cluster._routing.fingerprint,
        DETAILS: encode_details(details),
        ORIGIN_NODE: "other",
        "x-delivery-count": 1,
    }
    return _Method(tag, redelivered=True), _Properties(headers), body


class ReceiveTests(TestCase):
    """How the node answers the broker for each message, on a Clock: ack only after the run."""

    def setUp(self) -> None:
        """A started node on a Clock with a delivery limit of 3, and a recording channel."""
        self.clock = Clock()
        self.cluster = node(reactor=self.clock, delivery_limit=3)
        self.cluster.dispatcher.start()
        self.channel = _Channel()

    def receive(self, tag: int, queue: str, delivery: str, **details: Any) -> None:
        """Hand the node a message from *queue* with *details*, as its consumer would."""
        method, properties, body = _message(self.cluster, tag, **details)
        self.cluster._receive((self.channel, method, properties, body), queue, delivery)

    def test_ack_only_after_the_run_ends(self) -> None:
        """A pool message is acknowledged once its run has ended, not before."""
        gate: Any = Deferred()
        self.cluster.add_event_handler(lambda _: gate, "during", False, delivery=WorkQueue("p"))
        self.receive(7, "q", "pool:p", kind="a")
        assert self.channel.answers == []
        gate.callback(None)
        assert self.channel.answers == [("ack", 7, None)]

    def test_origin_of_the_run(self) -> None:
        """The run a message starts knows it was redelivered, and how often."""
        origins: list[Any] = []

        def record(event: object) -> None:
            call = current_call()
            assert call is not None
            origins.append(call.origin)

        self.cluster.add_event_handler(record, "during", False, delivery=WorkQueue("p"))
        self.receive(1, "q", "pool:p", kind="a")
        [origin] = origins
        assert (origin.node, origin.redelivered, origin.delivery_count, origin.queue) == (
            "other",
            True,
            1,
            "q",
        )

    def test_failed_pool_runs_go_back(self) -> None:
        """A pool message whose run failed goes back to its queue, logged with the limit."""

        def fail(event: object) -> None:
            raise RuntimeError("boom")

        self.cluster.add_event_handler(fail, "during", False, delivery=WorkQueue("p"))
        with capture_logs() as logs:
            self.receive(2, "q", "pool:p", kind="a")
        assert self.channel.answers == [("nack", 2, True)]
        [record] = [r for r in logs if r["event"] == "message_requeued"]
        assert (record["delivery"], record["delivery_limit"]) == (2, 3)
        assert not record["dead_letter_next"]
        assert "1 failure(s)" in record["reason"]

    def test_unmatched_pool_messages_go_back(self) -> None:
        """A pool message no handler of this node matches goes back for another node."""
        self.cluster.add_event_handler(print, "during", False, delivery=WorkQueue("p"), kind="b")
        self.receive(3, "q", "pool:p", kind="a")
        assert self.channel.answers == [("nack", 3, True)]

    def test_broadcast_failures_are_acknowledged(self) -> None:
        """A broadcast message is acknowledged even when its run failed: it is not retried."""

        def fail(event: object) -> None:
            raise RuntimeError("boom")

        self.cluster.add_event_handler(fail, "during", False)
        self.receive(4, "q", "broadcast")
        assert self.channel.answers == [("ack", 4, None)]

    def test_stopped_dispatcher_requeues(self) -> None:
        """A message that arrives while the node stops goes back to its queue."""
        self.cluster.dispatcher.stop()
        self.receive(5, "q", "broadcast")
        assert self.channel.answers == [("nack", 5, True)]

    def test_bad_details_are_dead_lettered(self) -> None:
        """A message whose details this node does not allow is dead-lettered, with why."""
        with capture_logs() as logs:
            self.receive(6, "q", "broadcast", colour="red")
        assert self.channel.answers == [("reject", 6, False)]
        [record] = [r for r in logs if r["event"] == "message_dead_lettered"]
        assert "'colour'" in record["reason"]

    def test_a_closed_channel_loses_the_answer_quietly(self) -> None:
        """An answer on a closed channel is logged; the broker redelivers the message."""

        class Closed(_Channel):
            def basic_ack(self, tag: int) -> None:
                raise ConnectionError("closed")

        self.channel = Closed()
        self.cluster.add_event_handler(print, "during", False)
        with capture_logs() as logs:
            self.receive(8, "q", "broadcast")
        assert [r["event"] for r in logs if r["event"].startswith("message_")] == [
            "message_settle_lost"
        ]


class OrderTests(TestCase):
    """The dispatcher's ordering options reach the node's handlers."""

    def test_priority_before_and_pass_details(self) -> None:
        """A node orders its handlers by priority and constraints, as a dispatcher does."""
        cluster = node()
        calls: list[Any] = []

        def first(event: object) -> None:
            calls.append("first")

        def second(event: object, **details: Any) -> None:
            calls.append(("second", details))

        late = self.successResultOf(cluster.add_event_handler(first, "during", False))
        self.successResultOf(
            cluster.add_event_handler(
                second, "during", False, priority=5, after=late, pass_details=True
            )
        )
        order = [reg.handler_name for reg in cluster.dispatcher.handlers()]
        assert order[0].endswith("first")
        assert order[1].endswith("second")

"""The cluster node against the real RabbitMQ, in one process, on the real reactor.

crochet runs the global reactor in a thread of its own; each scenario runs
there as one coroutine.  Each test has its own cluster name, so its exchanges
and queues are its own, and deletes them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest
from structlog.testing import capture_logs
from twisted.internet.defer import Deferred

from reactor_support import in_reactor, reactor, sleep, until
from twisted_event_dispatcher import current_call
from twisted_event_dispatcher.cluster import (
    BrokerUnavailable,
    ClusterService,
    EventCluster,
    RemoteOrigin,
    WorkQueue,
    make_routing,
)

pytestmark = [pytest.mark.reactor, pytest.mark.broker]

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class Broker:
    """A blocking admin connection for one test's topology, deleted afterwards."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connection = pika.BlockingConnection(pika.URLParameters(URL))
        self.channel = self.connection.channel()
        self.queues: set[str] = {f"{name}.dead-letter"}

    def messages(self, queue: str) -> list[tuple[Any, bytes]]:
        """Take every message waiting in *queue* (acknowledging them)."""
        taken: list[tuple[Any, bytes]] = []
        while True:
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append((properties, body))

    def dead_letters(self, count: int, *, within: float = 10.0) -> list[tuple[Any, bytes]]:
        """Wait until *count* messages are in the dead-letter queue, and take them."""
        import time

        deadline = time.monotonic() + within
        taken: list[tuple[Any, bytes]] = []
        while len(taken) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(taken)} of {count} dead letters within {within} seconds")
            taken += self.messages(f"{self.name}.dead-letter")
            time.sleep(0.02)
        return taken

    def delete(self) -> None:
        """Delete the test's exchanges and queues."""
        for queue in self.queues:
            self.channel.queue_delete(queue)
        for exchange in (f"{self.name}.events", f"{self.name}.dead-letter"):
            self.channel.exchange_delete(exchange)
        self.connection.close()


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A unique cluster name and an admin connection that cleans up after the test."""
    admin = Broker(f"test-{uuid.uuid4().hex[:12]}")
    yield admin
    admin.delete()


def make(broker: Broker, name: str, **options: Any) -> EventCluster:
    """Return a node of the test's cluster on the global reactor."""
    cluster = EventCluster(
        URL, ("kind", "user"), node_name=name, cluster_name=broker.name, reactor=reactor, **options
    )
    broker.queues.add(cluster.broadcast_queue)
    return cluster


def test_broadcast_pool_and_local(broker: Broker) -> None:
    """Broadcast reaches every matching node once, a pool splits, local stays local."""
    broker.queues.add(f"{broker.name}.pool.mail")
    seen: list[tuple[str, Any, RemoteOrigin | None]] = []

    def handler(name: str) -> Callable[[Any], None]:
        def record(event: Any) -> None:
            call = current_call()
            assert call is not None
            seen.append((name, event, call.origin))  # type: ignore[arg-type]

        return record

    handlers = {
        name: handler(name) for name in ("a-bc", "b-bc", "c-bc", "a-mail", "b-mail", "a-loc")
    }

    async def scenario() -> list[Any]:
        a, b, c = make(broker, "a"), make(broker, "b"), make(broker, "c")
        for node in (a, b, c):
            node.start()
        await a.add_event_handler(handlers["a-bc"], "during", kind="created")
        await b.add_event_handler(handlers["b-bc"], "during", kind="created", user="bob")
        await c.add_event_handler(handlers["c-bc"], "during", kind="deleted")
        for node, name in ((a, "a-mail"), (b, "b-mail")):
            await node.add_event_handler(
                handlers[name], "after", delivery=WorkQueue("mail"), kind="created"
            )
        await a.add_event_handler(handlers["a-loc"], "before", delivery="local")
        for node in (a, b, c):
            await node.when_connected()
        publications = [
            await c.fire_event({"n": n}, kind="created", user="bob") for n in range(20)
        ]
        publications.append(await c.fire_event({"n": "gone"}, kind="archived"))
        await until(lambda: len(seen) >= 60)
        await sleep(0.2)
        for node in (a, b, c):
            await node.stop()
        return publications

    publications = in_reactor(scenario)
    names = [name for name, _, _ in seen]
    assert names.count("a-bc") == 20
    assert names.count("b-bc") == 20
    assert names.count("c-bc") == 0
    assert names.count("a-loc") == 0  # fired by c: a's local handler hears nothing
    mail = sorted(event["n"] for name, event, _ in seen if name.endswith("mail"))
    assert mail == list(range(20))
    assert names.count("a-mail") > 0
    assert names.count("b-mail") > 0
    assert all(p.routed for p in publications[:-1])
    assert not publications[-1].routed
    for _, _event, origin in seen:
        assert origin is not None
        assert origin.node == "c"
        assert origin.redelivered is False
    assert len({p.message_id for p in publications}) == 21


def test_child_run_names_its_remote_parent(broker: Broker) -> None:
    """An event fired from inside a handler carries that run and handler to the next node."""
    calls: list[Any] = []
    publications: list[Any] = []

    async def scenario() -> None:
        a, b = make(broker, "a"), make(broker, "b")
        a.start()
        b.start()

        def place(event: Any) -> Deferred[Any]:
            return a.fire_event({"for": event}, kind="receipt")

        def receipt(event: Any) -> None:
            calls.append(current_call())

        await a.add_event_handler(place, "during", delivery="local", kind="order")
        await b.add_event_handler(receipt, "during", kind="receipt")
        await a.when_connected()
        await b.when_connected()
        # b's receipt may run before a's publication settles: each is awaited on its own.
        publications.append(await a.fire_event("o-1", kind="order"))
        await until(lambda: len(calls) == 1)
        await a.stop()
        await b.stop()

    in_reactor(scenario)
    [publication] = publications
    [call] = calls
    local_run = publication.local_run
    assert call.origin.node == "a"
    assert call.origin.run_id == local_run.run_id
    assert call.origin.handler_name.endswith("place")
    assert call.parent_run_id == local_run.run_id
    assert call.run_id.startswith("b.")
    assert local_run.run_id.startswith("a.")


def test_headers_routing_and_removal(broker: Broker) -> None:
    """Headers routing matches as topic routing does; a removed handler's binding goes."""
    seen: list[Any] = []

    async def scenario() -> list[bool]:
        a, b = make(broker, "a", routing="headers"), make(broker, "b", routing="headers")
        a.start()
        b.start()
        handler_id = await b.add_event_handler(seen.append, "during", False, user="bob")
        await a.when_connected()
        await b.when_connected()
        routed = [(await a.fire_event(1, kind="x", user="bob")).routed]
        routed.append((await a.fire_event(2, kind="x", user="alice")).routed)
        routed.append((await a.fire_event(3, user="bob")).routed)
        await until(lambda: len(seen) == 2)
        await b.remove_event_handler(handler_id)
        routed.append((await a.fire_event(4, user="bob")).routed)
        await a.stop()
        await b.stop()
        return routed

    assert in_reactor(scenario) == [True, False, True, False]
    assert seen == [1, 3]


def test_used_up_handlers_are_unbound(broker: Broker) -> None:
    """A broadcast handler with max_calls stops being routed to once it is used up."""
    seen: list[Any] = []

    async def scenario() -> list[bool]:
        a = make(broker, "a")
        a.start()
        await a.add_event_handler(seen.append, "during", False, max_calls=1, kind="k")
        await a.when_connected()
        routed = [(await a.fire_event(n, kind="k")).routed for n in range(2)]
        await until(lambda: not a.dispatcher.handlers() and len(seen) == 1)
        await sleep(0.3)  # the second delivery found no handler and pruned the binding
        routed.append((await a.fire_event(3, kind="k")).routed)
        await a.stop()
        return routed

    assert in_reactor(scenario) == [True, True, False]
    assert seen == [0]


def test_malformed_messages_are_dead_lettered(broker: Broker) -> None:
    """A message the node cannot read goes to the dead-letter queue, and the node goes on."""
    seen: list[Any] = []

    async def scenario() -> None:
        a = make(broker, "a")
        a.start()
        await a.add_event_handler(seen.append, "during", False, kind="k")
        await a.when_connected()
        good = await a.fire_event("ok", kind="k")
        properties = pika.BasicProperties(headers={"ted-routing": "nonsense"})
        broker.channel.basic_publish(broker.name + ".events", good.routing_key, b"{", properties)
        await a.fire_event("after", kind="k")
        # The bad message and "after" come over two connections: either may be first.
        await until(lambda: len(seen) == 2 and "message_dead_lettered" in events())
        await a.stop()

    with capture_logs() as logs:

        def events() -> list[str]:
            return [record["event"] for record in logs]

        in_reactor(scenario)
    assert seen == ["ok", "after"]
    [dead] = broker.dead_letters(1)
    assert dead[1] == b"{"
    [record] = [r for r in logs if r["event"] == "message_dead_lettered"]
    assert "fingerprint 'nonsense'" in record["reason"]


def test_oversized_and_undecodable_messages_are_dead_lettered(broker: Broker) -> None:
    """A body over max_message_bytes, or one the codec cannot read, is dead-lettered."""
    seen: list[Any] = []

    async def scenario() -> None:
        big = make(broker, "big", max_message_bytes=10_000)
        small = make(broker, "small", max_message_bytes=100)
        big.start()
        small.start()
        await small.add_event_handler(seen.append, "during", False, kind="k")
        await big.when_connected()
        await small.when_connected()
        await big.fire_event("x" * 1000, kind="k")
        bad = pika.BasicProperties(headers=dict(good_headers))
        broker.channel.basic_publish(broker.name + ".events", routing_key, b"\xff{", bad)
        await big.fire_event("fits", kind="k")
        await until(
            lambda: (
                seen == ["fits"] and [r["event"] for r in logs].count("message_dead_lettered") == 2
            )
        )
        await big.stop()
        await small.stop()

    # The headers of a real message, to publish a bad body with.
    routing = make_routing("topic", ("kind", "user"))
    routing_key, routing_headers = routing.message_routing({"kind": "k"})
    good_headers = {
        **routing_headers,
        "ted-routing": routing.fingerprint,
        "ted-details": '{"kind": "k"}',
        "ted-origin-node": "probe",
    }
    with capture_logs() as logs:
        in_reactor(scenario)
    assert seen == ["fits"]
    bodies = sorted(body for _, body in broker.dead_letters(2))
    assert bodies == sorted([b'"' + b"x" * 1000 + b'"', b"\xff{"])
    reasons = sorted(r["reason"] for r in logs if r["event"] == "message_dead_lettered")
    assert "max_message_bytes allows 100" in reasons[1]
    assert "EventDecodingError" in reasons[0]


def test_no_broker_fails_the_publish_in_time(broker: Broker) -> None:
    """With no broker to reach, a publish fails with BrokerUnavailable once its time is up."""

    async def scenario() -> Any:
        lonely = EventCluster(
            "amqp://guest:hidden-pw@127.0.0.1:1/",
            ("kind",),
            node_name="lonely",
            cluster_name=broker.name,
            reactor=reactor,
            publish_timeout=0.5,
        )
        lonely.start()
        try:
            await lonely.fire_event("e", kind="k")
        except BrokerUnavailable as error:
            return error
        finally:
            await lonely.stop()
        return None

    with capture_logs() as logs:
        error = in_reactor(scenario)
    assert isinstance(error, BrokerUnavailable)
    assert "no connection to amqp://guest:***@127.0.0.1:1/ within 0.5 seconds" in str(error)
    assert "hidden-pw" not in repr(logs)


def _self_signed(host: str) -> tuple[bytes, bytes]:
    """Return a key and a self-signed certificate for *host*, both PEM."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
        certificate.public_bytes(serialization.Encoding.PEM),
    )


def test_amqps_through_tls(broker: Broker) -> None:
    """amqps:// connects through real TLS (a local TLS front for the broker), verifying it."""
    from twisted.internet import ssl
    from twisted.internet.endpoints import SSL4ServerEndpoint
    from twisted.protocols.portforward import ProxyFactory

    key, certificate = _self_signed("localhost")
    private: Any = ssl.PrivateCertificate  # Twisted leaves these unannotated
    server_endpoint: Any = SSL4ServerEndpoint
    server = private.loadPEM(key + certificate)
    seen: list[Any] = []

    async def scenario() -> tuple[bool, Any]:
        front = ProxyFactory("127.0.0.1", 5672)
        port = await server_endpoint(reactor, 0, server.options(), interface="127.0.0.1").listen(
            front
        )
        url = f"amqps://guest:guest@localhost:{port.getHost().port}/%2F"
        trusted = ssl.optionsForClientTLS(
            "localhost", trustRoot=ssl.Certificate.loadPEM(certificate)
        )
        node = EventCluster(
            url,
            ("kind",),
            node_name="tls",
            cluster_name=broker.name,
            reactor=reactor,
            tls_options=trusted,
        )
        broker.queues.add(node.broadcast_queue)
        node.start()
        await node.add_event_handler(seen.append, "during", False, kind="k")
        await node.when_connected()
        routed = (await node.fire_event("over tls", kind="k")).routed
        await until(lambda: len(seen) == 1)
        await node.stop()
        untrusting = EventCluster(
            url,
            ("kind",),
            node_name="untrusting",
            cluster_name=broker.name,
            reactor=reactor,
            publish_timeout=1.0,
        )
        untrusting.start()
        try:
            await untrusting.fire_event("never", kind="k")
        except BrokerUnavailable as error:
            refused: Any = error
        else:
            refused = None
        await untrusting.stop()
        await port.stopListening()
        return routed, refused

    with capture_logs() as logs:
        routed, refused = in_reactor(scenario)
    assert routed
    assert seen == ["over tls"]
    assert isinstance(refused, BrokerUnavailable)
    failures = [r for r in logs if r["event"] == "cluster_connection_failed"]
    assert any("certificate verify failed" in r["reason"] for r in failures), failures


def test_bounded_stop_cancels_what_never_ends(broker: Broker) -> None:
    """A service's stop cancels a run that never ends once stop_timeout runs out."""
    called: list[Any] = []

    def never(event: Any) -> Deferred[None]:
        called.append(event)
        return Deferred()

    async def scenario() -> list[str]:
        a = make(broker, "a")
        service = ClusterService(a, stop_timeout=0.3)
        service.startService()
        await a.add_event_handler(never, "during", kind="k")
        await a.when_connected()
        await a.fire_event("stuck", kind="k")
        await until(lambda: called == ["stuck"])
        stopping = service.stopService()
        await stopping
        return [run.run_id for run in a.dispatcher.runs_in_flight()]

    with capture_logs() as logs:
        assert in_reactor(scenario) == []
    cancelled = [r for r in logs if r["event"] == "run_cancelled"]
    assert len(cancelled) == 1
    assert broker.messages(next(iter(q for q in broker.queues if ".node.a." in q))) == []


def test_service_stop_timeout_is_checked() -> None:
    """A stop timeout that is not a positive number of seconds is refused by value."""
    cluster = EventCluster(URL, ("kind",), node_name="n", cluster_name="unused")
    for bad in (0, -1, float("inf"), "5", True):
        with pytest.raises(ValueError, match="stop_timeout must be a positive") as info:
            ClusterService(cluster, stop_timeout=bad)  # type: ignore[arg-type]
        assert repr(bad) in str(info.value)


def test_routed_names_the_right_message_when_publishes_overlap(broker: Broker) -> None:
    """With many publishes awaiting one ack, each Publication says whether it was routed."""
    from twisted.internet.defer import gatherResults

    seen: list[Any] = []

    async def scenario() -> list[Any]:
        a = make(broker, "a")
        a.start()
        await a.add_event_handler(seen.append, "during", False, kind="k")
        await a.when_connected()
        fired = [a.fire_event(n, kind="k" if n % 3 else "z") for n in range(60)]
        publications = await gatherResults(fired)
        await until(lambda: len(seen) == 40)
        await a.stop()
        return publications

    publications = in_reactor(scenario)
    assert [p.routed for p in publications] == [bool(n % 3) for n in range(60)]
    assert all(p.local_run is None for p in publications)  # the node has no local handler
    assert sorted(seen) == [n for n in range(60) if n % 3]

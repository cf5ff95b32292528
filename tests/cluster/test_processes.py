"""End to end: cluster nodes as real OS processes on loopback, through the real RabbitMQ.

Every node is ``examples/cluster/node.py``, the program users copy, started
with ``subprocess``; each writes a JSON line per handler call to its record
file (``called``, then ``handled`` or ``failed``), and the tests read those
files, polling them until a deadline.  Each test has its own cluster name,
so its exchanges and queues are its own; it deletes them afterwards through
a blocking pika connection, the same connection it uses to look into queues.

The broker closes a node's connection with ``rabbitmqctl close_connection``,
aimed at that node's connection alone: ``close_all_connections`` would also
close those of whatever else uses the broker meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import pika
import pytest

from twisted_event_dispatcher.cluster import make_routing
from twisted_event_dispatcher.cluster._wire import DETAILS, ORIGIN_NODE, ROUTING, encode_details

pytestmark = pytest.mark.broker

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
NODE = Path(__file__).resolve().parents[2] / "examples" / "cluster" / "node.py"
KEYWORDS = ("kind", "region")
DEADLINE = 30.0
_T = TypeVar("_T")


def wait_for(condition: Callable[[], _T], what: str, within: float = DEADLINE) -> _T:
    """Poll *condition* until it returns something true, and return that; fail at the deadline."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within} seconds: {what}")
        time.sleep(0.05)


class Node:
    """A node process: ``node.py serve`` (or ``fire``), its stdout lines, its files."""

    def __init__(
        self, directory: Path, name: str, arguments: list[str], *, trace: bool = True
    ) -> None:
        self.name = name
        self.record = directory / f"{name}.records.jsonl"
        self.trace = directory / f"{name}.trace.jsonl"
        self.log = directory / f"{name}.log"
        self.lines: list[str] = []
        self.ready: dict[str, Any] = {}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- our own program, our arguments
                [
                    sys.executable,
                    str(NODE),
                    *arguments,
                    "--node",
                    name,
                    "--record",
                    str(self.record),
                    *(["--trace", str(self.trace)] if trace else []),
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,))
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def said(self, word: str) -> dict[str, Any] | None:
        """Return the JSON after the first stdout line that starts with *word*, if any."""
        for line in list(self.lines):
            first, _, rest = line.partition(" ")
            if first == word:
                said: dict[str, Any] = json.loads(rest)
                return said
        return None

    def wait_said(self, word: str) -> dict[str, Any]:
        """Wait until the node has printed its *word* line (``ready``, ``fired``)."""

        def said() -> dict[str, Any]:
            if self.process.poll() is not None and self.said(word) is None:
                pytest.fail(f"{self.name} exited {self.process.returncode}:\n{self.stderr()}")
            return self.said(word) or {}

        return wait_for(said, f"{self.name} prints {word!r}")

    def records(self, stage: str | None = None) -> list[dict[str, Any]]:
        """Return the node's records so far (of one *stage*), skipping a line half written."""
        if not self.record.exists():
            return []
        records = []
        for line in self.record.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if stage is None or record["stage"] == stage:
                records.append(record)
        return records

    def ids(self, stage: str) -> list[str]:
        """Return the ids of the events of the node's *stage* records, in order."""
        return [record["event"]["id"] for record in self.records(stage)]

    def trace_events(self, name: str) -> list[dict[str, Any]]:
        """Return the node's trace records whose event is *name*."""
        if not self.trace.exists():
            return []
        return [
            record
            for line in self.trace.read_text().splitlines()
            if line.endswith("}") and (record := json.loads(line))["event"] == name
        ]

    def stderr(self) -> str:
        """Return what the node logged."""
        return self.log.read_text()

    def wait_exit(self, within: float = DEADLINE) -> int:
        """Wait for the process to exit and return its status."""
        try:
            code = self.process.wait(within)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {within} seconds:\n{self.stderr()}")
        self._reader.join()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def terminate(self) -> int:
        """SIGTERM the node and return its exit status once it has drained and exited."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait_exit()


class Cluster:
    """One test's cluster: a unique name, its node processes, and an admin connection."""

    def __init__(self, directory: Path) -> None:
        self.name = f"e2e-{uuid.uuid4().hex[:12]}"
        self.directory = directory
        self.nodes: list[Node] = []
        self.queues = {f"{self.name}.dead-letter"}
        try:
            self.connection = pika.BlockingConnection(pika.URLParameters(URL))
        except pika.exceptions.AMQPConnectionError as error:
            pytest.fail(
                f"RabbitMQ does not answer on 127.0.0.1:5672 ({type(error).__name__}); "
                "these tests need it: run `make rabbitmq`"
            )
        self.channel = self.connection.channel()

    def start(
        self,
        name: str,
        *handlers: str,
        options: tuple[str, ...] = (),
        wait: bool = True,
        trace: bool = True,
    ) -> Node:
        """Start a ``serve`` node with *handlers* (each ``"NAME DELIVERY PHASE BEHAVIOUR ..."``).

        With *wait*, returns once it has printed its ``ready`` line.
        """
        arguments = ["serve", "--cluster", self.name, "--keywords", ",".join(KEYWORDS)]
        for handler in handlers:
            arguments += ["--handler", *handler.split()]
        node = Node(self.directory, name, [*arguments, *options], trace=trace)
        self.nodes.append(node)
        if wait:
            self.wait_ready(node)
        return node

    def wait_ready(self, *nodes: Node) -> None:
        """Wait until every node of *nodes* has printed its ``ready`` line."""
        for node in nodes:
            ready = node.ready = node.wait_said("ready")
            self.queues.add(ready["broadcast_queue"])
            self.queues.update(f"{self.name}.pool.{pool}" for pool in ready["pools"])

    def fire(self, name: str, *batches: str, wait: bool = True) -> Node:
        """Fire batches of events (each ``"COUNT KEY=VALUE ..."``) from a ``fire`` process.

        Their ids are ``<name>-1``, ``<name>-2``, ... across the batches.
        With *wait*, returns once the process has exited after every publish
        was confirmed.
        """
        arguments = ["fire", "--cluster", self.name, "--keywords", ",".join(KEYWORDS)]
        for batch in batches:
            arguments += ["--fire", *batch.split()]
        node = Node(self.directory, name, arguments)
        self.nodes.append(node)
        if wait:
            self.confirmed(node)
        return node

    def confirmed(self, fire: Node) -> dict[str, Any]:
        """Wait for a fire process to exit; check that the broker confirmed every publish."""
        assert fire.wait_exit() == 0, fire.stderr()
        summary = fire.said("fired")
        assert summary is not None
        assert summary["confirmed"] == summary["fired"], summary
        return summary

    def depth(self, queue: str) -> tuple[int, int]:
        """Return how many messages wait in *queue* (ready ones) and how many consume it."""
        declared = self.channel.queue_declare(queue, passive=True)
        return declared.method.message_count, declared.method.consumer_count

    def dead_letters(self) -> list[tuple[Any, bytes]]:
        """Take every message waiting in the cluster's dead-letter queue."""
        taken: list[tuple[Any, bytes]] = []
        while True:
            method, properties, body = self.channel.basic_get(
                f"{self.name}.dead-letter", auto_ack=True
            )
            if method is None:
                return taken
            taken.append((properties, body))

    def close(self) -> None:
        """Kill what still runs, and delete the cluster's queues and exchanges."""
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.kill()
            node.wait_exit()
        for queue in self.queues:
            self.channel.queue_delete(queue)
        for exchange in (f"{self.name}.events", f"{self.name}.dead-letter"):
            self.channel.exchange_delete(exchange)
        self.connection.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of its own for the test, torn down (processes, queues, exchanges) after it."""
    cluster = Cluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


def rabbitmqctl(*arguments: str) -> str:
    """Run ``rabbitmqctl`` with *arguments*; return its output."""
    return subprocess.run(  # noqa: S603 -- the broker's own admin tool, our arguments
        ["rabbitmqctl", *arguments, "--quiet"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    ).stdout


class Relay:
    """A TCP relay to the broker, on loopback, that can hold new connections back.

    A held connection attempt is accepted and closed at once, as a broker
    that is not there yet would be.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"amqp://guest:guest@127.0.0.1:{self._listener.getsockname()[1]}/%2F"
        self._open = True
        self._sockets: list[socket.socket] = []
        self._upstream_ports: list[int] = []
        self._threads = [threading.Thread(target=self._accept)]
        self._threads[0].start()

    def hold(self) -> None:
        """Refuse new connections from now on."""
        self._open = False

    def release(self) -> None:
        """Let new connections through again."""
        self._open = True

    def broker_connections(self) -> list[str]:
        """Return the broker's names for the relayed connections still open."""
        listing = rabbitmqctl("list_connections", "pid", "peer_port", "--no-table-headers")
        ports = {str(port) for port in self._upstream_ports}
        return [
            fields[0]
            for fields in map(str.split, listing.splitlines())
            if len(fields) == 2 and fields[1] in ports
        ]

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            self._sockets.append(client)
            if not self._open:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", 5672))
            self._sockets.append(upstream)
            self._upstream_ports.append(upstream.getsockname()[1])
            for source, sink in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(source, sink))
                self._threads.append(thread)
                thread.start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the other direction closed both
            while data := source.recv(65536):
                sink.sendall(data)
        # One side closed: so does the other (AMQP has no half-open connections).
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop relaying, and close every socket."""
        accepting, *pumping = self._threads
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread
        accepting.join()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in pumping:
            thread.join()
        for sock in self._sockets:
            sock.close()


def test_broadcast_reaches_exactly_the_matching_nodes(cluster: Cluster) -> None:
    """A broadcast event runs once on every node with a matching handler, and nowhere else."""
    orders = cluster.start("orders", "see broadcast during record kind=order", wait=False)
    eu = cluster.start("eu", "see broadcast during record kind=order region=eu", wait=False)
    refunds = cluster.start("refunds", "see broadcast during record kind=refund", wait=False)
    nodes = (orders, eu, refunds)
    cluster.wait_ready(*nodes)
    web = cluster.fire(
        "web", "3 kind=order region=eu", "2 kind=order region=us", "2 kind=refund", "1 kind=signup"
    )
    routed = {record["event_id"]: record["routed"] for record in web.records("published")}
    assert routed == {f"web-{n}": n != 8 for n in range(1, 9)}

    expected = {
        orders: ["web-1", "web-2", "web-3", "web-4", "web-5"],
        eu: ["web-1", "web-2", "web-3"],
        refunds: ["web-6", "web-7"],
    }
    wait_for(
        lambda: all(sorted(node.ids("handled")) == ids for node, ids in expected.items()),
        "every matching node handles its events",
    )
    for node in nodes:
        node.process.send_signal(signal.SIGTERM)
    for node in nodes:
        assert node.wait_exit() == 0, node.stderr()
    # Stopped and drained: nothing more waits for them, and nothing ran twice.
    for node, ids in expected.items():
        assert sorted(node.ids("handled")) == ids
        assert cluster.depth(node.ready["broadcast_queue"])[0] == 0
        assert {record["origin_node"] for record in node.records("handled")} == {"web"}


def test_a_pool_of_two_splits_a_thousand_events(cluster: Cluster) -> None:
    """A pool of two nodes handles each of 1,000 events exactly once, and both take part."""
    handler = "work pool:jobs during record kind=job"
    # Untraced: a trace of every transition of 1,000 runs is more than this test needs.
    first = cluster.start("first", handler, wait=False, trace=False)
    second = cluster.start("second", handler, wait=False, trace=False)
    cluster.wait_ready(first, second)
    cluster.fire("web", "1000 kind=job")
    everything = {f"web-{n}" for n in range(1, 1001)}
    wait_for(lambda: set(first.ids("handled")) | set(second.ids("handled")) == everything, "all")
    for node in (first, second):
        node.process.send_signal(signal.SIGTERM)
    for node in (first, second):
        assert node.wait_exit() == 0, node.stderr()
    handled = Counter(first.ids("handled") + second.ids("handled"))
    assert set(handled) == everything
    assert [event for event, times in handled.items() if times > 1] == []
    assert first.ids("handled")
    assert second.ids("handled")
    assert cluster.depth(f"{cluster.name}.pool.jobs") == (0, 0)


def test_a_killed_node_s_events_go_to_the_other_node_of_the_pool(cluster: Cluster) -> None:
    """SIGKILL mid-handler: the broker redelivers the node's unacknowledged events, flagged."""
    slow = cluster.start("slow", "work pool:jobs during sleep:600 kind=job")
    cluster.fire("web", "5 kind=job")
    wait_for(lambda: slow.ids("called"), "the slow node's handler is called")
    pool = f"{cluster.name}.pool.jobs"
    wait_for(lambda: cluster.depth(pool) == (0, 1), "the slow node holds all five")
    fast = cluster.start("fast", "work pool:jobs during record kind=job")
    assert fast.records() == []  # nothing for it while the slow node holds them
    slow.process.kill()
    assert slow.wait_exit() == -signal.SIGKILL
    everything = [f"web-{n}" for n in range(1, 6)]
    wait_for(lambda: sorted(fast.ids("handled")) == everything, "the fast node handles all")
    for record in fast.records("handled"):
        assert record["redelivered"] is True, record
        assert record["delivery_count"] == 1, record  # the quorum queue counts
    assert slow.ids("handled") == []
    assert fast.terminate() == 0, fast.stderr()
    assert cluster.depth(pool) == (0, 0)


def test_a_node_survives_losing_its_connection(cluster: Cluster) -> None:
    """A node whose connection the broker closes reconnects and handles every confirmed event.

    The node reaches the broker through a relay that can hold new
    connections back, so the events fired after the broker closed the
    node's connection certainly find it disconnected: they wait in the
    pool's queue, with the event whose run was in flight (its handler
    sleeps), which the broker takes back and delivers again, flagged.
    """
    pool = f"{cluster.name}.pool.jobs"
    with contextlib.closing(Relay()) as relay:
        node = cluster.start(
            "node",
            "slow pool:jobs during sleep:600 kind=slow",
            "work pool:jobs during record kind=job",
            options=("--ordering", "concurrent", "--broker", relay.url),
        )
        [connection] = relay.broker_connections()
        cluster.fire("web", "1 kind=slow", "5 kind=job")
        jobs = {f"web-{n}" for n in range(2, 7)}
        wait_for(
            lambda: set(node.ids("handled")) == jobs and "web-1" in node.ids("called"),
            "the jobs handled, web-1 in flight",
        )
        relay.hold()
        rabbitmqctl("close_connection", connection, "closed by test_processes")
        wait_for(lambda: node.trace_events("cluster_disconnected"), "the node sees it closed")
        wait_for(lambda: cluster.depth(pool) == (1, 0), "the broker takes web-1 back")
        cluster.fire("later", "5 kind=job")
        # A quorum queue's count can trail its confirms by a moment.
        wait_for(lambda: cluster.depth(pool) == (6, 0), "the later events wait in the queue")
        relay.release()
        later = {f"later-{n}" for n in range(1, 6)}
        wait_for(lambda: set(node.ids("handled")) == jobs | later, "the later events handled")
        [again] = wait_for(
            lambda: [r for r in node.records("called") if r["redelivered"]], "web-1 again"
        )
        node.process.kill()  # rather than drain web-1's ten minutes of sleep
        node.wait_exit()
    assert again["event"]["id"] == "web-1"
    assert again["delivery_count"] == 1
    assert Counter(node.ids("called")) == {"web-1": 2} | dict.fromkeys(jobs | later, 1)
    assert not [
        r for r in node.records("called") if r["event"]["id"] in later and r["redelivered"]
    ]
    assert len(node.trace_events("cluster_disconnected")) == 1
    assert len(node.trace_events("cluster_connected")) == 2
    assert node.trace_events("cluster_channel_closed") == []


def test_sigterm_drains_the_runs_in_flight(cluster: Cluster) -> None:
    """On SIGTERM a node finishes and acknowledges its runs in flight, then exits 0."""
    node = cluster.start(
        "node", "work pool:jobs during sleep:3 kind=job", options=("--ordering", "concurrent")
    )
    cluster.fire("web", "4 kind=job")
    events = [f"web-{n}" for n in range(1, 5)]
    wait_for(lambda: sorted(node.ids("called")) == events, "four runs in flight")
    assert node.terminate() == 0, node.stderr()
    stages = [record["stage"] for record in node.records()]
    assert stages == ["called"] * 4 + ["stopping"] + ["handled"] * 4, stages
    assert sorted(node.ids("handled")) == events
    assert node.trace_events("message_settle_lost") == []
    assert node.trace_events("message_requeued") == []
    # Acknowledged: nothing waits to be delivered again.
    assert cluster.depth(f"{cluster.name}.pool.jobs") == (0, 0)


def test_poison_messages_end_in_the_dead_letter_queue(cluster: Cluster) -> None:
    """An event whose handler always fails is dead-lettered after the delivery limit.

    A message the node cannot decode is dead-lettered at once, with the
    reason logged, and the node goes on handling events.
    """
    node = cluster.start(
        "node",
        "charge pool:jobs during fail kind=job",
        "ok pool:jobs during record kind=ok",
        options=("--delivery-limit", "2"),
    )
    pool = f"{cluster.name}.pool.jobs"
    dead_letters = f"{cluster.name}.dead-letter"
    cluster.fire("web", "1 kind=job")
    wait_for(lambda: cluster.depth(dead_letters)[0] == 1, "the event is dead-lettered")
    [(properties, body)] = cluster.dead_letters()
    assert json.loads(body) == {"id": "web-1"}
    assert properties.headers["x-first-death-reason"] == "delivery_limit"
    failed = node.records("failed")
    assert [record["delivery_count"] for record in failed] == [None, 1, 2]
    assert {record["reason"] for record in failed} == {"HandlerFailed: charge always fails"}
    requeued = node.trace_events("message_requeued")
    assert [record["dead_letter_next"] for record in requeued] == [False, False, True]
    assert all("1 failure(s)" in record["reason"] for record in requeued)

    routing = make_routing("topic", KEYWORDS)
    readable = {ROUTING: routing.fingerprint, DETAILS: encode_details({"kind": "job"})}
    cluster.channel.basic_publish(
        "",
        pool,
        b"\xff not JSON",
        pika.BasicProperties(message_id="garbled", headers={**readable, ORIGIN_NODE: "hand"}),
    )
    cluster.channel.basic_publish(
        "", pool, b"{}", pika.BasicProperties(message_id="headless", headers={})
    )
    wait_for(lambda: cluster.depth(dead_letters)[0] == 2, "both are dead-lettered")
    dead = {properties.message_id: properties for properties, _ in cluster.dead_letters()}
    assert sorted(dead) == ["garbled", "headless"]
    assert {p.headers["x-first-death-reason"] for p in dead.values()} == {"rejected"}
    why = {r["message_id"]: r["reason"] for r in node.trace_events("message_dead_lettered")}
    assert why["garbled"].startswith("EventDecodingError: message body is not a UTF-8 JSON")
    assert "fingerprint None" in why["headless"]

    cluster.fire("after", "1 kind=ok")
    wait_for(lambda: node.ids("handled") == ["after-1"], "the node goes on")
    assert node.terminate() == 0, node.stderr()
    assert cluster.depth(pool) == (0, 0)


def test_the_cluster_demo_runs_three_nodes_and_prints_their_runs(tmp_path: Path) -> None:
    """``make demo-cluster``'s program runs its shop to the end and prints every node's runs."""
    demo = NODE.with_name("demo.py")
    shown = subprocess.run(  # noqa: S603 -- our own program
        [sys.executable, str(demo), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=2 * DEADLINE,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Exit statuses: {'billing': 0, 'mail': 0, 'web': 0}" in shown.stdout
    tree = (tmp_path / "tree.txt").read_text()
    for handler in ("web.checkout", "billing.charge", "mail.send_receipt", "web.show_paid"):
        assert f"✓ {handler}  succeeded" in tree
    assert "fired by billing.charge in run billing." in tree

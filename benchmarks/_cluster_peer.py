"""One side of a W8 or W9 case, in its own process: ``python _cluster_peer.py ROLE CONFIG``.

The parent (``_cluster.py``) starts a *receive* process, waits for it to be
ready, then a *send* process, so node A and node B have an event loop each,
as two workers would.  *routing* measures publishes alone, in one process.
CONFIG is a JSON object; every role writes its result as JSON to
``CONFIG["result"]`` (the receiver also touches ``CONFIG["ready"]`` once it
consumes).  Both sides read ``time.time()`` on the same machine: an event
carries the time it was fired, and the receiver subtracts it from the time
its run ended.

Kinds of flow:

- ``pool``: ``EventCluster`` to ``EventCluster``, the handler on a
  ``WorkQueue`` (a durable quorum queue, acknowledged once the run has ended).
- ``broadcast``: the same, the handler on ``"broadcast"`` (the node's own
  classic queue).
- ``floor-quorum`` and ``floor-classic``: pika's Twisted adapter alone, the
  floor: a topic exchange, one binding, a queue of the same type as the
  node's, publisher confirms, ``prefetch`` as the node's, an ack per message.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientCreator
from twisted.python.failure import Failure

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
KIND = "bench"
PREFETCH = 32
"""The node's default prefetch; the floor's consumer uses the same."""


# -- shared --------------------------------------------------------------------------------


def _parameters() -> Any:
    import pika

    return pika.URLParameters(URL)


async def _pika_channel(reactor: Any) -> tuple[Any, Any]:
    """Connect with pika's Twisted adapter, as the node does; return (connection, channel)."""
    from pika.adapters.twisted_connection import TwistedProtocolConnection

    parameters = _parameters()
    connection = await ClientCreator(
        reactor, TwistedProtocolConnection, parameters, custom_reactor=reactor
    ).connectTCP(parameters.host, parameters.port)
    await connection.ready
    return connection, await connection.channel()


def _event(number: int) -> dict[str, Any]:
    return {"n": number, "sent": time.time()}


def drive(
    reactor: Any, fire: Callable[[int], Deferred[Any]], n: int, rate: float | None, window: int
) -> Deferred[dict[str, Any]]:
    """Fire *n* events, at most *window* unconfirmed, paced at *rate*/s (None: at once).

    Fires with the time of the first fire, of the last confirm, and the CPU
    time the process spent meanwhile.
    """
    done: Deferred[dict[str, Any]] = Deferred()
    state = {"next": 0, "out": 0, "confirmed": 0, "first": 0.0, "cpu": 0.0, "busy": False}
    errors: list[str] = []
    timer: list[Any] = []

    def settled(result: object) -> None:
        state["out"] -= 1
        state["confirmed"] += 1
        if isinstance(result, Failure) and len(errors) < 5:
            errors.append(f"{result.type.__name__}: {result.getErrorMessage()}")
        if state["confirmed"] == n:
            done.callback(
                {
                    "first": state["first"],
                    "last": time.time(),
                    "cpu": time.process_time() - state["cpu"],
                    "errors": errors,
                }
            )
        else:
            pump()

    def pump() -> None:
        if timer and timer[0].active():
            timer[0].cancel()
        timer.clear()
        if state["busy"]:  # a confirm that fired synchronously: the outer loop goes on
            return
        state["busy"] = True
        try:
            while state["next"] < n and state["out"] < window:
                if rate is not None:
                    delay = state["first"] + state["next"] / rate - time.time()
                    if delay > 0:
                        timer.append(reactor.callLater(delay, pump))
                        return
                state["out"] += 1
                state["next"] += 1
                fire(state["next"] - 1).addBoth(settled)
        finally:
            state["busy"] = False

    state["first"] = time.time()
    state["cpu"] = time.process_time()
    pump()
    return done


def _ready(config: dict[str, Any]) -> None:
    """Tell the parent that this receiver consumes: it starts the sender then."""
    Path(config["ready"]).touch()


def _is_ready(config: dict[str, Any]) -> bool:
    return Path(config["ready"]).exists()


async def _until_ready(reactor: Any, config: dict[str, Any]) -> None:
    """Wait for the receiver to consume (the parent starts both at once, to save time)."""
    deadline = time.monotonic() + config["timeout"]
    while not _is_ready(config):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the receiver was not ready within {config['timeout']} s")
        await task.deferLater(reactor, 0.01)


def _write(config: dict[str, Any], result: dict[str, Any]) -> None:
    Path(config["result"]).write_text(json.dumps(result), encoding="utf-8")


# -- the cluster node ----------------------------------------------------------------------


def _node(reactor: Any, config: dict[str, Any], name: str, **options: Any) -> Any:
    from twisted_event_dispatcher.cluster import EventCluster

    return EventCluster(
        URL,
        options.pop("keywords", ("kind",)),
        cluster_name=config["cluster"],
        node_name=name,
        reactor=reactor,
        **options,
    )


async def receive_cluster(reactor: Any, config: dict[str, Any]) -> dict[str, Any]:
    from twisted_event_dispatcher.cluster import WorkQueue

    n = config["n"]
    node = _node(reactor, config, "bench-b")
    latencies: list[float] = []
    done: Deferred[None] = Deferred()
    ends = {"last": 0.0}

    # The run's end is when the Deferred the node's dispatcher returns for a
    # received message fires, just before the node acknowledges the message:
    # time it there, on the node's own dispatcher, from outside the node.
    fire_event_from = node.dispatcher.fire_event_from

    def timed(origin: Any, event: Any, /, **details: Any) -> Deferred[Any]:
        return fire_event_from(origin, event, **details).addCallback(ended, event)

    def ended(run: Any, event: Any) -> Any:
        now = time.time()
        latencies.append(now - event["sent"])
        ends["last"] = now
        if len(latencies) == n:
            done.callback(None)
        return run

    node.dispatcher.fire_event_from = timed

    def handler(event: Any) -> None:
        return None

    delivery = WorkQueue("bench") if config["kind"] == "pool" else "broadcast"
    node.start()
    try:
        await node.when_connected()
        await node.add_event_handler(
            handler, "during", use_weakref=False, delivery=delivery, kind=KIND
        )
        _ready(config)
        cpu = time.process_time()
        await done.addTimeout(config["timeout"], reactor)
        cpu = time.process_time() - cpu
    finally:
        await node.stop()
    return {
        "latencies": latencies,
        "last": ends["last"],
        "cpu": cpu,
        "queues": [node.broadcast_queue],
    }


async def send_cluster(reactor: Any, config: dict[str, Any]) -> dict[str, Any]:
    node = _node(reactor, config, "bench-a")
    node.start()
    try:
        await node.when_connected()
        await _until_ready(reactor, config)

        def fire(number: int) -> Deferred[Any]:
            return node.fire_event(_event(number), kind=KIND)

        result = await drive(reactor, fire, config["n"], config["rate"], config["window"])
    finally:
        await node.stop()
    return {**result, "queues": [node.broadcast_queue]}


# -- the floor: pika alone -----------------------------------------------------------------


def _floor_names(config: dict[str, Any]) -> tuple[str, str]:
    return f"{config['cluster']}.floor", f"{config['cluster']}.floor.queue"


async def receive_floor(reactor: Any, config: dict[str, Any]) -> dict[str, Any]:
    n = config["n"]
    exchange, queue = _floor_names(config)
    connection, channel = await _pika_channel(reactor)
    await channel.basic_qos(prefetch_count=PREFETCH)
    await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    if config["kind"] == "floor-quorum":
        await channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    else:
        await channel.queue_declare(queue, arguments={"x-expires": 60_000})
    await channel.queue_bind(queue, exchange, routing_key=KIND)
    messages, _tag = await channel.basic_consume(queue=queue)
    latencies: list[float] = []
    done: Deferred[None] = Deferred()
    ends = {"last": 0.0}

    def receive(message: Any) -> None:
        channel_, method, _properties, body = message
        now = time.time()
        latencies.append(now - json.loads(body)["sent"])
        ends["last"] = now
        channel_.basic_ack(method.delivery_tag)
        if len(latencies) == n:
            done.callback(None)

    def next_message(_: object = None) -> None:
        # As the node's consumer does: take what is queued at once, then wait.
        while not done.called:
            got = messages.get()
            if not got.called:
                got.addCallbacks(received, lambda _: None)
                return
            box: list[Any] = []
            got.addBoth(box.append)
            if isinstance(box[0], Failure):
                return  # the consumer was cancelled, or its channel closed
            receive(box[0])

    def received(message: Any) -> None:
        receive(message)
        next_message()

    next_message()
    _ready(config)
    cpu = time.process_time()
    try:
        await done.addTimeout(config["timeout"], reactor)
    finally:
        cpu = time.process_time() - cpu
        connection.close()
    return {
        "latencies": latencies,
        "last": ends["last"],
        "cpu": cpu,
        "queues": [],
    }


async def send_floor(reactor: Any, config: dict[str, Any]) -> dict[str, Any]:
    import pika

    exchange, _queue = _floor_names(config)
    connection, channel = await _pika_channel(reactor)
    await channel.confirm_delivery()
    await _until_ready(reactor, config)
    # What the node sends, less the headers: persistent, JSON, a message id.
    properties = pika.BasicProperties(content_type="application/json", delivery_mode=2)

    def fire(number: int) -> Deferred[Any]:
        body = json.dumps(_event(number)).encode()
        return channel.basic_publish(exchange, KIND, body, properties, mandatory=True)

    try:
        result = await drive(reactor, fire, config["n"], config["rate"], config["window"])
    finally:
        connection.close()
    return {**result, "queues": []}


# -- routing -------------------------------------------------------------------------------

ROUTING_KEYWORDS = ("kind", "source", "target")
HIT = {"kind": KIND, "source": "s", "target": 0}
"""The details every routing publish carries: only the one matching binding selects them."""


def miss_spec(number: int) -> dict[str, Any]:
    """The *number*-th (from 1) distinct spec that does not select :data:`HIT`, in three shapes."""
    shape = number % 3
    if shape == 0:
        return {"target": number}
    if shape == 1:
        return {"kind": KIND, "target": number}
    return {"kind": KIND, "source": f"s{number}"}


async def routing(reactor: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Run every W9 case of *config*, one after the other, each on its own exchange."""
    return {"cases": [await routing_case(reactor, case, config) for case in config["cases"]]}


async def routing_case(
    reactor: Any, case: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    """Confirmed publishes/s with ``bindings`` bound specs: node A's fire_event, then bare pika."""
    import pika

    from twisted_event_dispatcher.cluster import make_routing

    mode, count = case["mode"], case["bindings"]
    node = _node(reactor, case, "bench-r", keywords=ROUTING_KEYWORDS, routing=mode)
    routes = make_routing(mode, ROUTING_KEYWORDS)
    sink, hit = f"{case['cluster']}.sink", f"{case['cluster']}.hit"
    node.start()
    connection = None
    try:
        await node.when_connected()
        connection, channel = await _pika_channel(reactor)
        await channel.queue_declare(sink, arguments={"x-expires": 600_000})
        # The matching queue keeps its last few messages only: no consumer needed.
        await channel.queue_declare(
            hit, arguments={"x-expires": 600_000, "x-max-length": 100, "x-overflow": "drop-head"}
        )
        started = time.perf_counter()
        for queue, spec in [(hit, HIT), *((sink, miss_spec(i)) for i in range(1, count))]:
            binding = routes.binding(spec)
            await channel.queue_bind(
                queue,
                node.exchange,
                routing_key=binding.routing_key,
                arguments=dict(binding.arguments),
            )
        set_up = time.perf_counter() - started

        def node_fire(number: int) -> Deferred[Any]:
            return node.fire_event(_event(number), **HIT)

        await channel.confirm_delivery()
        routing_key, headers = routes.message_routing(HIT)
        properties = pika.BasicProperties(
            content_type="application/json", delivery_mode=2, headers=headers
        )

        def pika_fire(number: int) -> Deferred[Any]:
            body = json.dumps(_event(number)).encode()
            return channel.basic_publish(
                node.exchange, routing_key, body, properties, mandatory=True
            )

        rates = {}
        for name, fire in [("node", node_fire), ("pika", pika_fire)]:
            rates[name] = await _rate_for(reactor, fire, config["seconds"], config["window"])
    finally:
        if connection is not None:
            connection.close()
        await node.stop()
    return {**case, "set_up": set_up, **rates, "queues": [sink, hit, node.broadcast_queue]}


async def _rate_for(
    reactor: Any, fire: Callable[[int], Deferred[Any]], seconds: float, window: int
) -> float:
    """Publish with at most *window* unconfirmed for *seconds*; return confirms per second."""
    calibrate = await drive(reactor, fire, window, None, window)
    if calibrate["errors"]:
        raise RuntimeError(f"publishes failed: {calibrate['errors']}")
    per_second = window / max(calibrate["last"] - calibrate["first"], 1e-6)
    n = max(window, round(per_second * seconds))
    result = await drive(reactor, fire, n, None, window)
    if result["errors"]:
        raise RuntimeError(f"publishes failed: {result['errors']}")
    return n / (result["last"] - result["first"])


# -- main ----------------------------------------------------------------------------------

ROLES = {
    ("receive", "pool"): receive_cluster,
    ("receive", "broadcast"): receive_cluster,
    ("receive", "floor-quorum"): receive_floor,
    ("receive", "floor-classic"): receive_floor,
    ("send", "pool"): send_cluster,
    ("send", "broadcast"): send_cluster,
    ("send", "floor-quorum"): send_floor,
    ("send", "floor-classic"): send_floor,
    ("routing", "routing"): routing,
}


def main(role: str, config: dict[str, Any]) -> None:
    run = ROLES[role, config.get("kind", "routing")]

    async def react(reactor: Any) -> None:
        result = await run(reactor, config)
        if role == "send" and result["errors"]:
            raise RuntimeError(f"publishes failed: {result['errors']}")
        _write(config, result)

    task.react(lambda reactor: Deferred.fromCoroutine(react(reactor)))


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))

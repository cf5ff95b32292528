"""A node of an event cluster, runnable: handlers from the command line, a record of each run.

It runs an :class:`~twisted_event_dispatcher.cluster.EventCluster` under a
:class:`~twisted_event_dispatcher.cluster.ClusterService` on the real
reactor, as ``twistd`` would: SIGTERM (or Ctrl-C) stops the service, which
stops consuming, drains the runs in flight, acknowledges them and closes
the connection before the process exits.

Two modes:

``serve``
    Register the handlers, connect, print one ``ready`` line (and the
    node's queues, as JSON) on standard output, fire the ``--fire`` events
    if any, and handle events until SIGTERM.
``fire``
    The same, then stop (draining) once the broker has confirmed every
    publish, which a ``fired`` line sums up; exit status 1 if one failed.

A handler is ``--handler NAME DELIVERY PHASE BEHAVIOUR [KEY=VALUE ...]``:

- DELIVERY: ``broadcast``, ``local`` or ``pool:<name>``;
- BEHAVIOUR: ``record`` (only record), ``sleep:<seconds>`` (finish that
  much later, on the reactor), ``fail`` (always raise), or
  ``fire:<key>=<value>[,<key>=<value>...]`` (fire a follow-up event with
  those details from inside the handler, and finish once it is confirmed);
- KEY=VALUE: the match spec (values are strings; none: every event).

``--fire COUNT [KEY=VALUE ...]`` fires COUNT events with those details
(repeatable); the events are ``--event``'s JSON object with an ``id``:
``<node>-1``, ``<node>-2``, ...

Each handler call appends JSON lines to ``--record``: ``called`` when it
starts, then ``handled`` or ``failed``, with the node, the handler, the
event, the run id, the firing node and run, ``redelivered`` and
``delivery_count``.  Each confirmed publish appends a ``published`` line,
and the start of a shutdown a ``stopping`` line.

A shop, on one machine (the broker URL comes from ``--broker`` or
``TED_BROKER_URL``; prefer the variable, as other users can read a
process's arguments)::

    python examples/cluster/node.py serve --cluster shop --node billing \\
        --handler charge pool:billing during fire:kind=receipt kind=order
    python examples/cluster/node.py serve --cluster shop --node mail \\
        --handler send_receipt broadcast after record kind=receipt
    python examples/cluster/node.py fire --cluster shop --node web \\
        --fire 3 kind=order --event '{"item": "teapot"}'
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, NoReturn

import attrs
import structlog
from twisted.application.service import Application, IService
from twisted.internet import task
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from twisted_event_dispatcher import current_call
from twisted_event_dispatcher.cluster import (
    ROUTING_MODES,
    ClusterService,
    Delivery,
    EventCluster,
    Publication,
    RemoteOrigin,
    WorkQueue,
)
from twisted_event_dispatcher.tracing import configure_tracing

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"
_log = Logger(namespace="ted-node")


class HandlerFailed(Exception):
    """What a ``fail`` handler raises, every time."""


# -- the command line -----------------------------------------------------------------


@attrs.frozen
class HandlerSpec:
    """One ``--handler``: what to register and what the handler does."""

    name: str
    delivery: str
    phase: str
    behaviour: str
    """``record``, ``sleep``, ``fail`` or ``fire``."""
    match: dict[str, str]
    seconds: float = 0.0
    """How long a ``sleep`` handler sleeps."""
    follow_up: dict[str, str] = attrs.field(factory=dict)
    """The details of the event a ``fire`` handler fires."""

    @classmethod
    def parse(cls, words: list[str]) -> HandlerSpec:
        """Read ``NAME DELIVERY PHASE BEHAVIOUR [KEY=VALUE ...]``."""
        if len(words) < 4:  # noqa: PLR2004 -- the four fixed fields
            _usage(f"--handler needs NAME DELIVERY PHASE BEHAVIOUR [KEY=VALUE ...]; got {words}")
        name, delivery, phase, behaviour, *spec = words
        if not (delivery in ("broadcast", "local") or delivery.startswith("pool:")):
            _usage(f"a handler's delivery is broadcast, local or pool:<name>; got {delivery!r}")
        kind, _, argument = behaviour.partition(":")
        if kind == "sleep" and argument.replace(".", "", 1).isdigit():
            return cls(name, delivery, phase, kind, _pairs(spec), seconds=float(argument))
        if kind == "fire" and argument:
            follow_up = _pairs(argument.split(","))
            return cls(name, delivery, phase, kind, _pairs(spec), follow_up=follow_up)
        if kind not in ("record", "fail") or argument:
            _usage(
                "a handler's behaviour is record, sleep:<seconds>, fail or "
                f"fire:<key>=<value>[,...]; got {behaviour!r}"
            )
        return cls(name, delivery, phase, kind, _pairs(spec))

    @property
    def pool(self) -> str | None:
        """The work queue's pool, or None for broadcast and local handlers."""
        return self.delivery[len("pool:") :] if self.delivery.startswith("pool:") else None

    def cluster_delivery(self) -> Delivery:
        """The ``delivery`` argument of :meth:`EventCluster.add_event_handler`."""
        if self.pool is not None:
            return WorkQueue(self.pool)
        return "broadcast" if self.delivery == "broadcast" else "local"


def _pairs(words: list[str]) -> dict[str, str]:
    pairs = {}
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            _usage(f"expected KEY=VALUE; got {word!r}")
        pairs[key] = value
    return pairs


def _usage(message: str) -> NoReturn:
    print(f"node.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--broker",
        default=os.environ.get("TED_BROKER_URL", DEFAULT_BROKER),
        help="amqp://user:password@host:port/vhost (default: $TED_BROKER_URL, else guest on "
        "127.0.0.1:5672)",
    )
    common.add_argument("--cluster", default="ted", help="the cluster's name (default: ted)")
    common.add_argument("--node", help="this node's name (default: <host name>.<process id>)")
    common.add_argument(
        "--keywords",
        default="kind",
        help="comma-separated match keywords, the same on every node (default: kind)",
    )
    common.add_argument(
        "--phases", default="before,during,after", help="comma-separated phases, in order"
    )
    common.add_argument("--routing", choices=ROUTING_MODES, default="topic")
    common.add_argument("--ordering", choices=("serial", "concurrent"), default="serial")
    common.add_argument("--prefetch", type=int, default=32)
    common.add_argument("--delivery-limit", type=int, default=5)
    common.add_argument("--trace", type=Path, help="append the runtime's JSON-lines trace here")
    common.add_argument("--record", type=Path, help="append a JSON line per handler call here")
    common.add_argument("--log-level", choices=("debug", "info", "warn", "error"), default="info")
    common.add_argument(
        "--handler",
        nargs="+",
        action="append",
        default=[],
        metavar="WORD",
        help="NAME DELIVERY PHASE BEHAVIOUR [KEY=VALUE ...] (repeatable)",
    )
    common.add_argument(
        "--fire",
        nargs="+",
        action="append",
        default=[],
        metavar="WORD",
        help="COUNT [KEY=VALUE ...]: once ready, fire COUNT events with those details "
        "(repeatable)",
    )
    common.add_argument(
        "--event", default="{}", help="the fired events, a JSON object; each gets an 'id'"
    )
    common.add_argument(
        "--id-prefix", help="the fired events' ids are <prefix>-1, <prefix>-2, ... (--node)"
    )

    parser = argparse.ArgumentParser(
        description="Run a node of an event cluster over RabbitMQ.",
        epilog="Handlers: DELIVERY is broadcast, local or pool:<name>; BEHAVIOUR is record, "
        "sleep:<seconds>, fail or fire:<key>=<value>[,...]; KEY=VALUE pairs are the match spec.",
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("serve", parents=[common], help="handle events until SIGTERM")
    modes.add_parser("fire", parents=[common], help="fire events, then stop once confirmed")
    return parser


# -- logging --------------------------------------------------------------------------


class _TwistedLoggerSink:
    """structlog's final logger: hands each rendered record to ``twisted.logger``."""

    def _emit(self, level: LogLevel, text: str) -> None:
        _log.emit(level, "{text}", text=text)

    def debug(self, text: str) -> None:
        self._emit(LogLevel.debug, text)

    def info(self, text: str) -> None:
        self._emit(LogLevel.info, text)

    def warning(self, text: str) -> None:
        self._emit(LogLevel.warn, text)

    def error(self, text: str) -> None:
        self._emit(LogLevel.error, text)

    def critical(self, text: str) -> None:
        self._emit(LogLevel.critical, text)

    msg = info
    exception = error


def _configure_logging(level: str, stream: IO[str]) -> None:
    """structlog's records and Twisted's own, at *level* and above, on *stream*."""
    twisted_level = LogLevel.levelWithName(level)
    predicate = LogLevelFilterPredicate(defaultLogLevel=twisted_level)
    observer = FilteringLogObserver(textFileLogObserver(stream), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    std_level = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING}.get(
        level, logging.ERROR
    )
    structlog.configure(
        processors=[
            structlog.processors.format_exc_info,
            structlog.processors.KeyValueRenderer(key_order=["event"], drop_missing=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(std_level),
        logger_factory=lambda *_: _TwistedLoggerSink(),
        cache_logger_on_first_use=True,
    )


# -- what the handlers do -------------------------------------------------------------


class Recorder:
    """Appends one JSON line per handler call and per confirmed publish to a file."""

    def __init__(self, path: Path | None, node: str) -> None:
        self._node = node
        self._file = None if path is None else path.open("a", encoding="utf-8", buffering=1)

    def write(self, stage: str, **fields: Any) -> None:
        """Append a line (a single write, flushed) saying *stage* and *fields*."""
        if self._file is not None:
            line = json.dumps({"node": self._node, "stage": stage, **fields}, default=repr)
            self._file.write(line + "\n")

    def call(self, handler: str, stage: str, event: Any, **fields: Any) -> None:
        """Record a stage of a handler call, with the run and where its event came from."""
        call = current_call()
        origin = None if call is None else call.origin
        remote = origin if isinstance(origin, RemoteOrigin) else None
        self.write(
            stage,
            handler=handler,
            event=event,
            run_id=None if call is None else call.run_id,
            origin_node=None if origin is None else origin.node,
            origin_run_id=None if origin is None else origin.run_id,
            redelivered=remote is not None and remote.redelivered,
            delivery_count=None if remote is None else remote.delivery_count,
            **fields,
        )


def make_handler(
    spec: HandlerSpec, cluster: EventCluster, recorder: Recorder, reactor: Any
) -> Callable[[Any], Deferred[None]]:
    """Return the handler *spec* describes, recording its calls."""
    act = _action(spec, cluster, recorder, reactor)

    async def run(event: Any) -> None:
        recorder.call(spec.name, "called", event)
        try:
            await act(event)
        except Exception as error:
            recorder.call(spec.name, "failed", event, reason=f"{type(error).__name__}: {error}")
            raise
        recorder.call(spec.name, "handled", event)

    def handler(event: Any) -> Deferred[None]:
        return ensureDeferred(run(event))

    # Traces and records name it <node>.<handler>: billing.charge, mail.send_receipt.
    handler.__name__ = handler.__qualname__ = spec.name
    handler.__module__ = cluster.node_name
    return handler


def _action(
    spec: HandlerSpec, cluster: EventCluster, recorder: Recorder, reactor: Any
) -> Callable[[Any], Awaitable[None]]:
    async def record(_event: Any) -> None:
        pass

    async def sleep(_event: Any) -> None:
        await task.deferLater(reactor, spec.seconds)

    async def fail(_event: Any) -> None:
        raise HandlerFailed(f"{spec.name} always fails")

    async def fire(event: Any) -> None:
        # Fired from inside the handler: the runs it starts on other nodes are
        # children of this run, in the joined trace.
        cause = event.get("id") if isinstance(event, dict) else None
        follow_up = {"id": f"{cause}>{spec.name}", "cause": cause}
        published = await cluster.fire_event(follow_up, **spec.follow_up)
        recorder.write("published", event_id=follow_up["id"], **_published(published))

    actions = {"record": record, "sleep": sleep, "fail": fail, "fire": fire}
    return actions[spec.behaviour]


def _published(publication: Publication) -> dict[str, Any]:
    return {"message_id": publication.message_id, "routed": publication.routed}


# -- the program ----------------------------------------------------------------------


def _batches(args: argparse.Namespace) -> list[tuple[int, dict[str, str]]]:
    batches = []
    for count, *details in args.fire:
        if not count.isdigit():
            _usage(f"--fire needs COUNT [KEY=VALUE ...]; got {[count, *details]}")
        batches.append((int(count), _pairs(details)))
    if args.mode == "fire" and not batches:
        _usage("fire needs at least one --fire COUNT [KEY=VALUE ...]")
    return batches


async def _fire(
    batches: list[tuple[int, dict[str, str]]],
    args: argparse.Namespace,
    cluster: EventCluster,
    recorder: Recorder,
) -> int:
    """Fire every batch at once; return how many publishes failed."""
    base = json.loads(args.event)
    prefix = args.id_prefix or cluster.node_name
    fired = []
    for count, details in batches:
        for _ in range(count):
            event = {**base, "id": f"{prefix}-{len(fired) + 1}"}
            fired.append((event, cluster.fire_event(event, **details)))
    results = await DeferredList([deferred for _, deferred in fired], consumeErrors=True)
    failed = routed = 0
    for (event, _), (ok, result) in zip(fired, results, strict=True):
        if ok:
            routed += result.routed
            recorder.write("published", event_id=event["id"], **_published(result))
        else:
            failed += 1
            _log.error(
                "publishing {id} failed: {reason}", id=event["id"], reason=result.getErrorMessage()
            )
    summary = {"fired": len(fired), "confirmed": len(fired) - failed, "routed": routed}
    print("fired", json.dumps(summary), flush=True)
    return failed


def build_node(
    args: argparse.Namespace, handlers: list[HandlerSpec], reactor: Any
) -> tuple[EventCluster, Recorder]:
    """Return the node the command line describes, its handlers registered."""
    try:
        cluster = EventCluster(
            args.broker,
            args.keywords.split(","),
            args.phases.split(","),
            node_name=args.node,
            cluster_name=args.cluster,
            routing=args.routing,
            ordering=args.ordering,
            prefetch=args.prefetch,
            delivery_limit=args.delivery_limit,
        )
    except (ValueError, TypeError) as error:  # the messages never show the password
        _usage(str(error))
    recorder = Recorder(args.record, cluster.node_name)
    for spec in handlers:
        _register(spec, cluster, make_handler(spec, cluster, recorder, reactor))
    return cluster, recorder


def _register(spec: HandlerSpec, cluster: EventCluster, handler: Callable[[Any], Any]) -> None:
    try:
        cluster.add_event_handler(
            handler,
            spec.phase,
            use_weakref=False,  # the node holds the only reference to the closure
            delivery=spec.cluster_delivery(),
            **spec.match,
        )
    except (ValueError, TypeError) as error:  # a phase or keyword not allowed
        _usage(f"handler {spec.name}: {error}")


def main(argv: list[str] | None = None) -> int:
    """Run a node as the command line says; return the exit status."""
    args = _parser().parse_args(argv)
    handlers = [HandlerSpec.parse(words) for words in args.handler]
    batches = _batches(args)
    _configure_logging(args.log_level, sys.stderr)
    tracing = None if args.trace is None else configure_tracing(args.trace)

    from twisted.internet import reactor

    cluster, recorder = build_node(args, handlers, reactor)
    application = Application("ted-node")
    ClusterService(cluster).setServiceParent(application)
    top = IService(application)
    status = {"code": 0}

    async def session() -> None:
        await cluster.when_connected()
        ready = {
            "node": cluster.node_name,
            "cluster": cluster.cluster_name,
            "broadcast_queue": cluster.broadcast_queue,
            "pools": sorted({spec.pool for spec in handlers if spec.pool is not None}),
        }
        _log.info("node {node} ready on {broker}", node=cluster.node_name, broker=cluster.broker)
        print("ready", json.dumps(ready), flush=True)
        if batches and await _fire(batches, args, cluster, recorder):
            status["code"] = 1
        if args.mode == "fire":
            reactor.stop()

    def failed(failure: Any) -> None:
        _log.failure("the node failed", failure)
        status["code"] = 1
        if reactor.running:
            reactor.stop()

    def stop() -> Deferred[None]:
        _log.info("stopping: draining the runs in flight")
        recorder.write("stopping")
        return top.stopService().addErrback(failed)

    # As twistd does: start the services once the reactor runs, stop them
    # (and wait for the Deferred) when it shuts down, on SIGTERM or SIGINT.
    reactor.callWhenRunning(top.startService)
    reactor.callWhenRunning(lambda: ensureDeferred(session()).addErrback(failed))
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.run()
    if tracing is not None:
        tracing.stop()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())

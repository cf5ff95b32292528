"""W8 and W9: events that cross processes through RabbitMQ, measured against pika alone.

Each case runs in fresh processes (``_cluster_peer.py``), so that node A
(which fires) and node B (which handles) have an event loop each, as two
workers would; this process has no reactor and only starts them, collects
their JSON, and cleans the broker up.  Every case gets its own exchange and
queue names, deleted afterwards.

- W8: 10,000 small events from ``fire_event`` in A to the end of the run in
  B, with publisher confirms and acks, through a work queue and through
  broadcast; and pika's Twisted adapter alone (publish with confirms,
  consume with acks, no dispatcher) through a queue of the same type, the
  floor.  Once as fast as the window of unconfirmed publishes allows
  (throughput), once paced at 1,000 events/s (latency).
- W9: confirmed publishes/s with 1, 100 and 5,000 distinct specs bound to
  the exchange, for both routing modes: from the node's ``fire_event``, and
  from pika alone with the same routing key and headers.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import format_ns, format_ratio, markdown_table

HERE = Path(__file__).resolve().parent
PEER = HERE / "_cluster_peer.py"
URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

FLOWS: dict[str, str] = {
    "pool": "work queue",
    "floor-quorum": "pika alone, quorum queue",
    "broadcast": "broadcast",
    "floor-classic": "pika alone, classic queue",
}
"""The W8 flows, in report order; each cluster flow is followed by its floor."""

FLOOR_OF: dict[str, str] = {"pool": "floor-quorum", "broadcast": "floor-classic"}
"""A work queue is a durable quorum queue; a node's broadcast queue is a classic one."""

ROUTING_MODES = ("topic", "headers")


@dataclass(frozen=True)
class ClusterSizes:
    events: int
    """Events per W8 case."""
    paced_rate: float
    """Events per second of the paced W8 cases."""
    rounds: int
    """Runs per W8 case, interleaved; the median is reported."""
    bindings: tuple[int, ...]
    """Bound specs per W9 case."""
    routing_seconds: float
    """About how long each W9 publisher publishes."""
    window: int = 1000
    """Unconfirmed publishes at most (the node's default ``max_unconfirmed``), W8."""
    routing_window: int = 64
    """Unconfirmed publishes at most, W9 (small: 5,000 headers bindings route slowly)."""


FULL_CLUSTER = ClusterSizes(
    events=10_000, paced_rate=1_000.0, rounds=3, bindings=(1, 100, 5_000), routing_seconds=2.0
)
SMOKE_CLUSTER = ClusterSizes(
    events=50, paced_rate=1_000.0, rounds=1, bindings=(1, 5, 20), routing_seconds=0.05
)


@dataclass(frozen=True)
class Flow:
    """One W8 run: throughput, latency, and CPU time per event on each side."""

    kind: str
    paced: bool
    rate: float
    """Events per second, first fire in A to the last run's end in B."""
    p50: float
    p99: float
    """Latency percentiles, seconds."""
    cpu_a: float
    cpu_b: float
    """CPU seconds per event in the sender and in the receiver."""


@dataclass(frozen=True)
class RoutingCost:
    """One W9 case: confirmed publishes/s from the node and from pika alone."""

    mode: str
    bindings: int
    set_up: float
    """Seconds to bind the specs, one queue.bind at a time."""
    node: float
    pika: float


@dataclass
class ClusterResults:
    sizes: ClusterSizes
    server: str
    flows: list[Flow] = field(default_factory=list)
    """The median run per case (by throughput for bursts, by p99 for paced runs)."""
    routing: list[RoutingCost] = field(default_factory=list)
    started: str = ""
    elapsed: float = 0.0
    load: float = 0.0

    def flow(self, kind: str, *, paced: bool) -> Flow:
        return next(f for f in self.flows if f.kind == kind and f.paced == paced)


# -- the broker ----------------------------------------------------------------------------


def _connect() -> Any:
    import pika

    try:
        return pika.BlockingConnection(pika.URLParameters(URL))
    except pika.exceptions.AMQPError as error:
        raise RuntimeError(
            f"RabbitMQ does not answer on 127.0.0.1:5672 ({type(error).__name__}): "
            "`make rabbitmq` starts it"
        ) from None


def server_version() -> str:
    connection = _connect()
    try:
        version = connection._impl.server_properties.get("version", b"?")
        return version.decode() if isinstance(version, bytes) else str(version)
    finally:
        connection.close()


def _delete(cluster: str, queues: Sequence[str]) -> None:
    """Delete everything a case may have declared (deleting what does not exist is fine)."""
    connection = _connect()
    try:
        channel = connection.channel()
        for queue in [
            *queues,
            f"{cluster}.pool.bench",
            f"{cluster}.dead-letter",
            f"{cluster}.floor.queue",
            f"{cluster}.sink",
            f"{cluster}.hit",
        ]:
            channel.queue_delete(queue)
        for exchange in (f"{cluster}.events", f"{cluster}.dead-letter", f"{cluster}.floor"):
            channel.exchange_delete(exchange)
    finally:
        connection.close()


# -- processes -----------------------------------------------------------------------------


class PeerFailed(RuntimeError):
    """A benchmark process failed; the message has the end of its standard error."""


def _tail(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return text[-3000:]


def _start(role: str, config: dict[str, Any], stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as sink:
        return subprocess.Popen(  # noqa: S603 -- this interpreter, the repository's own script
            [sys.executable, str(PEER), role, json.dumps(config)],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            cwd=HERE,
        )


def _finish(process: subprocess.Popen[bytes], name: str, stderr: Path, timeout: float) -> None:
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise PeerFailed(f"{name} took over {timeout:.0f} s:\n{_tail(stderr)}") from None
    if code != 0:
        raise PeerFailed(f"{name} exited with {code}:\n{_tail(stderr)}")


def _flow(kind: str, n: int, rate: float | None, window: int, prefix: str) -> Flow:
    cluster = f"{prefix}-{kind}-{secrets.token_hex(3)}"
    timeout = 60 + n / 100
    queues: list[str] = []
    with tempfile.TemporaryDirectory(prefix="w8-") as tmp:
        work = Path(tmp)
        common = {"kind": kind, "n": n, "cluster": cluster, "ready": str(work / "ready")}
        # Both start at once (importing takes a while); the sender fires once B consumes.
        receiver = _start(
            "receive",
            {**common, "result": str(work / "b.json"), "timeout": timeout},
            work / "b.err",
        )
        sender = _start(
            "send",
            {
                **common,
                "result": str(work / "a.json"),
                "timeout": timeout,
                "rate": rate,
                "window": window,
            },
            work / "a.err",
        )
        try:
            # A receiver that fails first would leave the sender waiting for it.
            deadline = time.monotonic() + timeout + 30
            while sender.poll() is None and time.monotonic() < deadline:
                if receiver.poll() not in {None, 0}:
                    _finish(receiver, f"node B ({kind})", work / "b.err", 0)
                time.sleep(0.05)
            _finish(
                sender, f"node A ({kind})", work / "a.err", max(deadline - time.monotonic(), 0)
            )
            _finish(receiver, f"node B ({kind})", work / "b.err", timeout)
            a = json.loads((work / "a.json").read_text(encoding="utf-8"))
            b = json.loads((work / "b.json").read_text(encoding="utf-8"))
        finally:
            for process in (sender, receiver):
                if process.poll() is None:
                    process.kill()
                    process.wait()
            for result in ("a.json", "b.json"):
                if (work / result).exists():
                    queues += json.loads((work / result).read_text(encoding="utf-8"))["queues"]
            _delete(cluster, queues)
    latencies = b["latencies"]
    if len(latencies) != n:
        raise PeerFailed(f"node B ({kind}) ran {len(latencies)} of {n} events")
    return Flow(
        kind=kind,
        paced=rate is not None,
        rate=n / (b["last"] - a["first"]),
        p50=statistics.median(latencies),
        p99=_percentile(latencies, 99),
        cpu_a=a["cpu"] / n,
        cpu_b=b["cpu"] / n,
    )


def _percentile(values: Sequence[float], percent: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _routing(sizes: ClusterSizes, prefix: str) -> list[RoutingCost]:
    """Run every W9 case in one process, one after the other, each on its own exchange."""
    cases = [
        {"mode": mode, "bindings": bindings, "cluster": f"{prefix}-{mode}-{bindings}"}
        for mode in ROUTING_MODES
        for bindings in sizes.bindings
    ]
    queues: list[str] = []
    with tempfile.TemporaryDirectory(prefix="w9-") as tmp:
        work = Path(tmp)
        config = {
            "cases": cases,
            "seconds": sizes.routing_seconds,
            "window": sizes.routing_window,
            "result": str(work / "r.json"),
        }
        process = _start("routing", config, work / "r.err")
        timeout = len(cases) * (60 + 4 * sizes.routing_seconds) + sum(sizes.bindings) / 10
        try:
            _finish(process, "W9", work / "r.err", timeout)
            results = json.loads((work / "r.json").read_text(encoding="utf-8"))["cases"]
            queues = [queue for result in results for queue in result["queues"]]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for case in cases:
                _delete(case["cluster"], queues)
    return [
        RoutingCost(r["mode"], r["bindings"], r["set_up"], r["node"], r["pika"]) for r in results
    ]


# -- the workloads -------------------------------------------------------------------------


def measure_cluster(sizes: ClusterSizes) -> ClusterResults:
    """Run W8 and W9; every W8 case *sizes.rounds* times, interleaved."""
    started = time.perf_counter()
    results = ClusterResults(
        sizes,
        server_version(),
        started=time.strftime("%Y-%m-%d %H:%M %Z"),
        load=os.getloadavg()[0],
    )
    prefix = f"bench-{os.getpid()}"
    kinds = list(FLOWS)
    for paced in (False, True):
        runs: dict[str, list[Flow]] = {kind: [] for kind in kinds}
        for round_ in range(sizes.rounds):
            shift = round_ % len(kinds)
            for kind in [*kinds[shift:], *kinds[:shift]]:
                rate = sizes.paced_rate if paced else None
                runs[kind].append(_flow(kind, sizes.events, rate, sizes.window, prefix))
        for kind in kinds:
            ordered = sorted(runs[kind], key=(lambda f: f.p99) if paced else (lambda f: f.rate))
            results.flows.append(ordered[len(ordered) // 2])
        print(f"  W8 {'paced' if paced else 'burst'} measured", file=sys.stderr)
    results.routing = _routing(sizes, f"{prefix}-{secrets.token_hex(3)}")
    print("  W9 measured", file=sys.stderr)
    results.elapsed = time.perf_counter() - started
    return results


# -- the report ----------------------------------------------------------------------------


def _flow_label(flow: Flow, sizes: ClusterSizes) -> str:
    how = f"paced {sizes.paced_rate:,.0f}/s" if flow.paced else "as fast as confirms allow"
    return f"W8 {FLOWS[flow.kind]}, {how}"


def render_flows(results: ClusterResults) -> str:
    rows = []
    for flow in results.flows:
        floor = FLOOR_OF.get(flow.kind)
        versus = "floor"
        if floor is not None:
            versus = format_ratio(results.flow(floor, paced=flow.paced).rate / flow.rate)
            if flow.paced:
                theirs = results.flow(floor, paced=True).p99
                versus = f"p99 {format_ratio(flow.p99 / theirs)}"
        rows.append(
            [
                _flow_label(flow, results.sizes),
                f"{flow.rate:,.0f}/s",
                versus,
                format_ns(flow.p50 * 1e9),
                format_ns(flow.p99 * 1e9),
                format_ns(flow.cpu_a * 1e9),
                format_ns(flow.cpu_b * 1e9),
            ]
        )
    return markdown_table(
        [
            "Case",
            "events/s",
            "vs pika alone",
            "p50 latency",
            "p99 latency",
            "CPU in A per event",
            "CPU in B per event",
        ],
        rows,
    )


def render_routing(results: ClusterResults) -> str:
    rows = [
        [
            f"W9 {cost.mode}, {cost.bindings:,} bound spec{'' if cost.bindings == 1 else 's'}",
            f"{cost.node:,.0f}/s",
            f"{cost.pika:,.0f}/s",
            format_ratio(cost.pika / cost.node),
            f"{cost.set_up:.2f} s",
        ]
        for cost in results.routing
    ]
    return markdown_table(
        [
            "Routing",
            "node fire_event",
            "pika alone",
            "node vs pika alone",
            "binding the specs took",
        ],
        rows,
    )

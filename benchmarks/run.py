"""Run the side-by-side benchmark: ``python benchmarks/run.py`` (or ``make bench``).

Prints the tables and writes them, with the targets and the machine's
versions, to ``benchmarks/results.md``.  ``--smoke`` runs every row once with
small sizes, to prove the benchmark still works (CI runs it); its figures
mean nothing.  The cluster rows (W8, W9) need RabbitMQ on 127.0.0.1:5672
(``make rabbitmq``); ``--only cluster`` (or ``--only local``) measures one
part and keeps the other part of the existing report; ``--only notes``
measures nothing and copies ``NOTES.md`` into it again.  ``--count`` (the
same as ``--only count``, ``make bench-count``) counts instructions per event
under valgrind's callgrind and keeps the rest of the report: figures that do
not move with the machine's load (see ``_callgrind.py``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _cluster import (  # noqa: E402
    FLOOR_OF,
    FLOWS,
    FULL_CLUSTER,
    SMOKE_CLUSTER,
    ClusterResults,
    measure_cluster,
    render_flows,
    render_routing,
)
from _counts import measure_counts  # noqa: E402
from _harness import Settings, format_ns, format_ratio, markdown_table  # noqa: E402
from _peers import PEERS, VARIANTS, available  # noqa: E402
from _targets import (  # noqa: E402
    Target,
    issue10_targets,
    target_lines,
    tracing_target,
    variant_targets,
)
from _workloads import (  # noqa: E402
    W7_CASES,
    Row,
    variants,
    w1,
    w2,
    w3,
    w4,
    w4_uncached,
    w5,
    w6,
    w6_memory,
    w7,
)

PACKAGES = (
    "twisted_event_dispatcher",
    "Twisted",
    "Automat",
    "structlog",
    "pyee",
    "blinker",
    "psygnal",
    "PyDispatcher",
    "zope.event",
    "pika",
)

COUNT_MARK = "<!-- counts: `run.py --count` rewrites from here to the cluster -->"
CLUSTER_MARK = "<!-- cluster: `run.py --only cluster` rewrites from here to the notes -->"
NOTES_MARK = "<!-- notes: from benchmarks/NOTES.md -->"


@dataclass(frozen=True)
class Sizes:
    selective: tuple[int, ...]
    registrations: int
    batch_rounds: int


FULL = Sizes(selective=(10, 1_000, 100_000), registrations=100_000, batch_rounds=3)
SMOKE = Sizes(selective=(10, 100, 1_000), registrations=1_000, batch_rounds=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one iteration per row, small N")
    parser.add_argument("--rounds", type=int, default=21, help="samples per case (median)")
    parser.add_argument("--sample-ms", type=float, default=8.0, help="time per sample")
    parser.add_argument(
        "--only",
        choices=("local", "count", "cluster", "notes"),
        help="measure one part (or none); keep the rest of the existing report",
    )
    parser.add_argument(
        "--count",
        action="store_const",
        const="count",
        dest="only",
        help="count instructions per event under callgrind only (as --only count)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="callgrind children run at once (default: CPUs)"
    )
    parser.add_argument(
        "--output", type=Path, default=HERE / "results.md", help="where to write the report"
    )
    args = parser.parse_args(argv)
    settings = Settings(rounds=args.rounds, sample_ns=int(args.sample_ms * 1e6), smoke=args.smoke)
    started = time.perf_counter()
    kept = {"local": "", "count": "", "cluster": ""}
    if args.only is not None:
        try:
            kept = split_report(args.output.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            parser.error(f"--only {args.only} keeps the rest of {args.output}: {error}")

    lines: list[str] = []
    parts = dict(kept)
    if args.only in {None, "local"}:
        parts["local"], more = measure_local(settings, args, started)
        lines += more
    if args.only in {None, "count"}:
        parts["count"], more = measure_counts(smoke=settings.smoke, jobs=args.jobs)
        lines += more
    if args.only in {None, "cluster"}:
        parts["cluster"], more = measure_cluster_part(settings)
        lines += more
    if lines:
        print()
        print("\n".join(lines))
    notes_file = HERE / "NOTES.md"
    notes = notes_file.read_text(encoding="utf-8").strip() if notes_file.exists() else ""
    report = (
        f"{parts['local'].rstrip()}\n\n{COUNT_MARK}\n{parts['count'].strip()}\n\n"
        f"{CLUSTER_MARK}\n{parts['cluster'].strip()}\n\n{NOTES_MARK}\n{notes}"
    )
    args.output.write_text(report.rstrip() + "\n", encoding="utf-8")
    elapsed = time.perf_counter() - started
    print(f"\nwrote {args.output} ({elapsed:.0f} s)", file=sys.stderr)
    return 0


def split_report(text: str) -> dict[str, str]:
    """Return the local, count and cluster parts of a report :func:`main` wrote.

    A report written before the count part existed gives an empty count part.
    """
    if CLUSTER_MARK not in text or NOTES_MARK not in text:
        raise ValueError("it has no cluster and notes markers; run the whole benchmark once")
    head, rest = text.split(CLUSTER_MARK, 1)
    cluster, _notes = rest.split(NOTES_MARK, 1)
    local, _, count = head.partition(COUNT_MARK)
    return {"local": local, "count": count, "cluster": cluster}


def measure_local(
    settings: Settings, args: argparse.Namespace, started: float
) -> tuple[str, list[str]]:
    """Run W1 to W7; print their table; return their part of the report and target lines."""
    sizes = SMOKE if settings.smoke else FULL
    rows: list[Row] = []
    for name, step in [
        ("W1", lambda: [w1(settings)]),
        ("W2", lambda: [w2(settings)]),
        ("W3", lambda: [w3(settings)]),
        ("W4", lambda: [w4(settings, n) for n in sizes.selective]),
        ("W4u", lambda: [w4_uncached(settings, (sizes.selective[0], sizes.selective[-1]))]),
        ("W5", lambda: [w5(settings)]),
        ("W1f", lambda: [variants(settings, "W1")]),
        ("W5f", lambda: [variants(settings, "W5")]),
        ("W6", lambda: [*w6(sizes.batch_rounds, sizes.registrations)]),
        ("W6m", lambda: [w6_memory(sizes.registrations)]),
    ]:
        step_started = time.perf_counter()
        rows.extend(step())
        print(f"  {name} measured in {time.perf_counter() - step_started:.1f} s", file=sys.stderr)
    w7_row, tracing_how = w7(settings)
    rows.append(w7_row)

    elapsed = time.perf_counter() - started
    table = render_table(rows)
    lines = target_lines(check_targets(rows, sizes))
    print(table)
    report = render_report(
        table,
        target_lines=lines,
        rows=rows,
        args=args,
        elapsed=elapsed,
        tracing_how=tracing_how,
        smoke=settings.smoke,
    )
    return report, lines


def measure_cluster_part(settings: Settings) -> tuple[str, list[str]]:
    """Run W8 and W9; print their tables; return their part of the report and target lines."""
    results = measure_cluster(SMOKE_CLUSTER if settings.smoke else FULL_CLUSTER)
    flows, routing = render_flows(results), render_routing(results)
    lines = target_lines(check_cluster_targets(results))
    print(flows)
    print()
    print(routing)
    report = render_cluster(results, flows, routing, lines, smoke=settings.smoke)
    return report, lines


def _by(rows: list[Row], workload: str, label_part: str = "") -> Row:
    return next(r for r in rows if r.workload == workload and label_part in r.label)


def render_table(rows: list[Row]) -> str:  # noqa: C901, PLR0912 -- one branch per kind of row
    peers = [peer for peer in PEERS if peer != "dispatcher"]
    header = ["Workload", "this dispatcher", *(PEERS[p] for p in peers), "notes"]
    lines = []
    for row in rows:
        if row.unit in {"time", "rate", "bytes"}:
            ours = row.times.get("dispatcher")
            if ours is None:
                continue
            cells = []
            for peer in peers:
                theirs = row.times.get(peer)
                if theirs is None or not available(peer):
                    cells.append("—")
                elif row.unit == "rate":
                    cells.append(format_ratio(theirs / ours))  # time per registration
                else:
                    cells.append(format_ratio(ours / theirs))
            lines.append([f"{row.workload} {row.label}", _absolute(row, ours), *cells, ""])
        elif row.unit == "sizes":
            for size, ns in row.times.items():
                lines.append(
                    [f"{row.workload} {row.label}, {size}", format_ns(ns)]
                    + ["—"] * len(peers)
                    + ["dispatcher only"]
                )
        elif row.unit == "variants":
            base = row.times["plain"]
            for name in VARIANTS:
                ns = row.times[name]
                lines.append(
                    [f"{row.workload} {row.label}, {name}", format_ns(ns)]
                    + ["—"] * len(peers)
                    + ["plain" if name == "plain" else f"{format_ratio(ns / base)} of plain"]
                )
        elif row.unit == "tracing":
            base = row.times["removed"]
            for case, label in W7_CASES.items():
                ns = row.times[case]
                lines.append(
                    [f"W7 {label}", format_ns(ns)]
                    + ["—"] * len(peers)
                    + [f"{format_ratio(ns / base)} of stub"]
                )
    return markdown_table(header, lines)


def _absolute(row: Row, value: float) -> str:
    if row.unit == "rate":
        return f"{value:,.0f}/s"
    if row.unit == "bytes":
        return f"{value:,.0f} B"
    return format_ns(value)


def check_targets(rows: list[Row], sizes: Sizes) -> list[Target]:
    targets = issue10_targets(
        {workload: _by(rows, workload).times for workload in ("W1", "W3", "W5")}, format_ns
    )
    small, large = sizes.selective[0], sizes.selective[-1]
    at_small = _by(rows, "W4", f"N = {small:,}").times["dispatcher"]
    at_large = _by(rows, "W4", f"N = {large:,}").times["dispatcher"]
    targets.append(
        Target(
            "W4",
            f"time at N = {large:,} within 1.5x of N = {small:,}",
            at_large / at_small,
            1.5,
            f"{format_ratio(at_large / at_small)}: {format_ns(at_large)} vs {format_ns(at_small)}",
        )
    )
    uncached = _by(rows, "W4u").times
    u_small, u_large = uncached[f"N = {small:,}"], uncached[f"N = {large:,}"]
    targets.append(
        Target(
            "W4",
            f"same, details never repeating (match cache missing), N = {large:,} vs {small:,}",
            u_large / u_small,
            1.5,
            f"{format_ratio(u_large / u_small)}: {format_ns(u_large)} vs {format_ns(u_small)}",
        )
    )
    memory = _by(rows, "W6m").times["dispatcher"]
    targets.append(
        Target(
            "W6",
            f"<= 1 KiB per registered handler at {sizes.registrations:,}",
            memory / 1024,
            1.0,
            f"{memory:,.0f} B = {format_ratio(memory / 1024)} of 1 KiB",
        )
    )
    rate = _by(rows, "W6r").times["dispatcher"]
    targets.append(
        Target(
            "W6",
            ">= 200,000 registrations/s",
            200_000 / rate,
            1.0,
            f"{rate:,.0f}/s = {format_ratio(rate / 200_000)} of 200,000/s",
        )
    )
    w7_times = _by(rows, "W7").times
    targets.append(
        Target(
            "W7",
            "debug filtered out within 10% of structlog calls removed",
            w7_times["filtered"] / w7_times["removed"],
            1.1,
            f"{format_ratio(w7_times['filtered'] / w7_times['removed'])}: "
            f"{format_ns(w7_times['filtered'])} vs {format_ns(w7_times['removed'])}",
        )
    )
    targets.append(tracing_target(w7_times["json"], w7_times["removed"], format_ns, "removed"))
    for workload in ("W1f", "W5f"):
        targets += variant_targets(workload, _by(rows, workload).times, format_ns)
    return targets


def render_report(
    table: str,
    *,
    target_lines: list[str],
    rows: list[Row],
    args: argparse.Namespace,
    elapsed: float,
    tracing_how: str,
    smoke: bool,
) -> str:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:  # noqa: PERF203 -- nine look-ups
            versions.append(f"{name} (not installed)")
    parts = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (`python benchmarks/run.py`); do not edit by hand.",
        "",
        (
            f"- Python {platform.python_version()} ({platform.python_implementation()}) "
            f"on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
        ),
        f"- {', '.join(versions)}",
        (
            f"- {time.strftime('%Y-%m-%d %H:%M %Z')}; {args.rounds} rounds of "
            f"~{args.sample_ms:g} ms per case, interleaved in one process; took {elapsed:.0f} s"
        ),
        f"- W7 tracing set up with {tracing_how}",
    ]
    if smoke:
        parts += [
            "",
            "**Smoke run: one iteration per row, small sizes; the figures mean nothing.**",
        ]
    parts += [
        "",
        "## Table",
        "",
        (
            "The dispatcher's column is its median time per event (per handler for W6, "
            "registrations per second for W6r, bytes per handler for W6m).  Every other cell is "
            "the dispatcher's cost divided by that peer's, measured side by side: below 1x the "
            "dispatcher is cheaper.  — means the peer cannot do that work (no filtering) or is "
            "not installed."
        ),
        "",
        table,
        "",
        "## Targets",
        "",
        *target_lines,
        "",
        "## Medians per operation",
        "",
        markdown_table(
            ["Workload", *PEERS.values()],
            [
                [f"{row.workload} {row.label}"]
                + [_absolute(row, row.times[p]) if p in row.times else "—" for p in PEERS]
                for row in rows
                if row.unit in {"time", "rate", "bytes"}
            ],
        ),
        "",
        "## How each peer does the work",
        "",
        "- plain loop: calls the handlers in a `for` loop (W4: one dict look-up, then the call).",
        (
            "- original design: per phase, `maybeDeferred` for each handler (matched by scanning "
            "every registration's spec) and a `DeferredList`, behind a `DeferredLock`."
        ),
        (
            "- Twisted 3-phase: `twisted.internet.base._ThreePhaseEvent.fireEvent`, what "
            "`fireSystemEvent` uses; it waits only for before-phase Deferreds."
        ),
        (
            "- pyee, blinker, psygnal, PyDispatcher: one event name or signal per phase that has "
            "handlers; W4 filters by event name (pyee) or sender (blinker, PyDispatcher)."
        ),
        "- zope.event: one global subscriber list; `notify` calls every subscriber.",
        (
            "- W3: handlers return Deferreds that the benchmark fires after the call; only the "
            "dispatcher, the original design, Twisted (before phase) and pyee's Twisted emitter "
            "wait for them."
        ),
        (
            "- W6: removal goes in registration order; list-based registries (Twisted, psygnal, "
            "zope.event) shift their list on every removal."
        ),
    ]
    for row in rows:
        parts.extend(f"- {row.workload}: {note}" for note in row.notes)
    return "\n".join(parts) + "\n"


P99_LIMIT = 0.020
"""Seconds: the p99 latency the paced cluster runs must stay under."""


def check_cluster_targets(results: ClusterResults) -> list[Target]:
    targets = []
    for kind, floor in FLOOR_OF.items():
        ours, theirs = results.flow(kind, paced=False), results.flow(floor, paced=False)
        ratio = theirs.rate / ours.rate
        targets.append(
            Target(
                "W8",
                f"{FLOWS[kind]} throughput within 2x of {FLOWS[floor]}",
                ratio,
                2.0,
                f"{format_ratio(ratio)}: {ours.rate:,.0f}/s vs {theirs.rate:,.0f}/s",
            )
        )
    rate = results.sizes.paced_rate
    for kind in FLOOR_OF:
        paced = results.flow(kind, paced=True)
        targets.append(
            Target(
                "W8",
                f"{FLOWS[kind]} p99 under {P99_LIMIT * 1e3:.0f} ms at {rate:,.0f} events/s",
                paced.p99 / P99_LIMIT,
                1.0,
                f"p99 {format_ns(paced.p99 * 1e9)}, p50 {format_ns(paced.p50 * 1e9)}",
            )
        )
    return targets


def render_cluster(
    results: ClusterResults, flows: str, routing: str, target_lines: list[str], *, smoke: bool
) -> str:
    sizes = results.sizes
    try:
        pika = importlib.metadata.version("pika")
    except importlib.metadata.PackageNotFoundError:
        pika = "(not installed)"
    parts = [
        "## Cluster: events across processes through RabbitMQ (W8, W9)",
        "",
        (
            f"- RabbitMQ {results.server} on loopback, pika {pika}; {results.started}; "
            f"load average {results.load:.1f} at the start on {os.cpu_count()} CPUs; "
            f"took {results.elapsed:.0f} s"
        ),
        (
            f"- W8: {sizes.events:,} events per case (`{{'n': i, 'sent': time.time()}}`, "
            "JSON, one detail `kind='bench'`); node A fires and node B handles, each in its "
            "own process and reactor (so each case starts two fresh processes); publisher "
            f"confirms on, at most {sizes.window:,} unconfirmed; B acks once the run has "
            f"ended; the median of {sizes.rounds} interleaved runs per case (by events/s, or "
            "by p99 for the paced runs)."
        ),
        (
            "- Latency: from just before `fire_event` in A (the time travels in the event) to "
            "the end of the run in B (when the Deferred of B's dispatcher run fires, just "
            "before the ack), both read with `time.time()` on this machine.  Events/s: the "
            "events over the time from the first fire in A to the last run's end in B."
        ),
        (
            "- pika alone, the floor: pika's Twisted adapter publishing with confirms "
            "(mandatory, persistent, the same window) to a topic exchange with one binding, "
            "and consuming with acks (prefetch 32, the node's default) from a queue of the "
            "type the node uses: a durable quorum queue for a work queue, a classic one for "
            "broadcast; no dispatcher, no headers."
        ),
        (
            f"- W9: about {sizes.routing_seconds:g} s of confirmed publishes per publisher, at "
            f"most {sizes.routing_window} unconfirmed, to an exchange where the specs (three "
            "shapes over three keywords, all distinct) are bound to a queue no published event "
            "matches, plus one binding every event matches; the node publishes with "
            "`fire_event`, pika alone with the same routing key and headers.  Binding the "
            "specs: one `queue.bind` at a time."
        ),
    ]
    if smoke:
        parts += [
            "",
            "**Smoke run: a few events and bindings; the figures mean nothing.**",
        ]
    parts += [
        "",
        "### W8: from fire_event in node A to the end of the run in node B",
        "",
        (
            "vs pika alone: pika alone's events/s divided by the node's (above 1x the node is "
            "slower); for the paced runs, the node's p99 divided by pika alone's.  A paced run "
            "whose events/s falls short of the pace did not keep up: its events queued, and "
            "its latency is mostly that queue.  CPU per event: each process's CPU time while "
            "the events flowed, divided by the events (paced runs pay a wake-up per event)."
        ),
        "",
        flows,
        "",
        "### W9: routing with many bound specs (confirmed publishes/s)",
        "",
        routing,
        "",
        "### Targets (cluster)",
        "",
        *target_lines,
    ]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())

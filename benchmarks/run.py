"""Run the side-by-side benchmark: ``python benchmarks/run.py`` (or ``make bench``).

Prints one table and writes it, with the targets and the machine's versions,
to ``benchmarks/results.md``.  ``--smoke`` runs every row once with small
sizes, to prove the benchmark still works (CI runs it); its figures mean
nothing.
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

from _harness import Settings, format_ns, format_ratio, markdown_table  # noqa: E402
from _peers import PEERS, available  # noqa: E402
from _workloads import W7_CASES, Row, w1, w2, w3, w4, w4_uncached, w5, w6, w6_memory, w7  # noqa: E402

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
)


@dataclass(frozen=True)
class Sizes:
    selective: tuple[int, ...]
    registrations: int
    batch_rounds: int


FULL = Sizes(selective=(10, 1_000, 100_000), registrations=100_000, batch_rounds=3)
SMOKE = Sizes(selective=(10, 100, 1_000), registrations=1_000, batch_rounds=1)


@dataclass(frozen=True)
class Target:
    workload: str
    claim: str
    ratio: float
    limit: float
    measured: str

    @property
    def met(self) -> bool:
        return self.ratio <= self.limit


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one iteration per row, small N")
    parser.add_argument("--rounds", type=int, default=21, help="samples per case (median)")
    parser.add_argument("--sample-ms", type=float, default=8.0, help="time per sample")
    parser.add_argument(
        "--output", type=Path, default=HERE / "results.md", help="where to write the report"
    )
    args = parser.parse_args(argv)
    settings = Settings(rounds=args.rounds, sample_ns=int(args.sample_ms * 1e6), smoke=args.smoke)
    sizes = SMOKE if args.smoke else FULL
    started = time.perf_counter()

    rows: list[Row] = []
    for name, step in [
        ("W1", lambda: [w1(settings)]),
        ("W2", lambda: [w2(settings)]),
        ("W3", lambda: [w3(settings)]),
        ("W4", lambda: [w4(settings, n) for n in sizes.selective]),
        ("W4u", lambda: [w4_uncached(settings, (sizes.selective[0], sizes.selective[-1]))]),
        ("W5", lambda: [w5(settings)]),
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
    targets = check_targets(rows, sizes)
    target_lines = [
        f"- {t.workload}: {t.claim}: **{'met' if t.met else 'missed'}** ({t.measured})"
        for t in targets
    ]
    print(table)
    print()
    print("\n".join(target_lines))
    report = render_report(
        table,
        target_lines=target_lines,
        rows=rows,
        args=args,
        elapsed=elapsed,
        tracing_how=tracing_how,
        smoke=settings.smoke,
    )
    args.output.write_text(report, encoding="utf-8")
    print(f"\nwrote {args.output} ({elapsed:.0f} s)", file=sys.stderr)
    return 0


def _by(rows: list[Row], workload: str, label_part: str = "") -> Row:
    return next(r for r in rows if r.workload == workload and label_part in r.label)


def render_table(rows: list[Row]) -> str:  # noqa: C901 -- one branch per kind of row
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
    targets = []
    w1_times = _by(rows, "W1").times
    ours = w1_times["dispatcher"]
    for peer, limit, claim in [
        ("pyee_tw", 0.5, "<= 0.5x pyee TwistedEventEmitter"),
        ("original", 0.1, "<= 0.1x the original design"),
        ("psygnal", 1.0, "stretch: <= psygnal's emit"),
    ]:
        if peer in w1_times:
            ratio = ours / w1_times[peer]
            targets.append(
                Target(
                    "W1",
                    claim,
                    ratio,
                    limit,
                    f"{format_ratio(ratio)}: {format_ns(ours)} vs {format_ns(w1_times[peer])}",
                )
            )
    w3_times = _by(rows, "W3").times
    ratio = w3_times["dispatcher"] / w3_times["original"]
    targets.append(
        Target(
            "W3",
            "<= 0.5x the original design",
            ratio,
            0.5,
            f"{format_ratio(ratio)}: {format_ns(w3_times['dispatcher'])} "
            f"vs {format_ns(w3_times['original'])}",
        )
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
    ratio = w7_times["filtered"] / w7_times["removed"]
    targets.append(
        Target(
            "W7",
            "debug filtered out within 10% of structlog calls removed",
            ratio,
            1.1,
            f"{format_ratio(ratio)}: {format_ns(w7_times['filtered'])} "
            f"vs {format_ns(w7_times['removed'])}",
        )
    )
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
    notes_file = HERE / "NOTES.md"
    notes = notes_file.read_text(encoding="utf-8").strip() if notes_file.exists() else ""
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
    if notes:
        parts += ["", notes]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())

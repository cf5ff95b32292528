"""Timing in one process: interleaved rounds, medians, ratios.

Absolute times on shared machines drift, so every case of a workload is
measured in the same process, round after round, in a rotating order; each
case's figure is the median of its rounds, and the report compares cases by
their ratio, measured side by side.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat


@dataclass
class Case:
    """One peer doing one workload's unit of work (one event, usually).

    ``enter`` and ``exit`` run around every sample, outside the timed region
    (to switch global configuration such as structlog's, or zope.event's
    subscriber list, which other cases share).
    """

    peer: str
    op: Callable[[], object]
    enter: Callable[[], object] | None = None
    exit: Callable[[], object] | None = None


@dataclass(frozen=True)
class Settings:
    """How long to measure."""

    rounds: int
    """Samples per case; the median is reported."""
    sample_ns: int
    """The time one sample aims at (the loop count is calibrated to it)."""
    smoke: bool = False
    """One iteration per case, no calibration: proves the rows still run."""


def _sample(case: Case, loops: int) -> int:
    if case.enter is not None:
        case.enter()
    op = case.op
    try:
        start = time.perf_counter_ns()
        for _ in repeat(None, loops):
            op()
        return time.perf_counter_ns() - start
    finally:
        if case.exit is not None:
            case.exit()


def _calibrate(case: Case, sample_ns: int) -> int:
    loops = 1
    while True:
        elapsed = _sample(case, loops)
        if elapsed >= sample_ns // 4 or loops >= 1 << 22:
            break
        loops *= 4 if elapsed < sample_ns // 64 else 2
    per_op = max(elapsed / loops, 1.0)
    return max(1, round(sample_ns / per_op))


def measure(cases: Sequence[Case], settings: Settings) -> dict[str, float]:
    """Return each case's median time per operation, in nanoseconds."""
    if settings.smoke:
        return {case.peer: float(_sample(case, 1)) for case in cases}
    # What the set-up built (every peer's registrations, up to 100,000 each) is
    # moved out of the collector's sight: otherwise the full collections one
    # case's garbage triggers would traverse every other peer's registry too.
    gc.collect()
    gc.freeze()
    try:
        loops = {case.peer: _calibrate(case, settings.sample_ns) for case in cases}
        samples: dict[str, list[float]] = {case.peer: [] for case in cases}
        for round_ in range(settings.rounds):
            shift = round_ % len(cases)
            for case in [*cases[shift:], *cases[:shift]]:
                samples[case.peer].append(_sample(case, loops[case.peer]) / loops[case.peer])
            gc.collect()
    finally:
        gc.unfreeze()
    return {peer: statistics.median(values) for peer, values in samples.items()}


def measure_batches(
    batches: Sequence[tuple[str, Callable[[], tuple[int, int]]]], rounds: int
) -> dict[str, tuple[float, float]]:
    """Run each batch *rounds* times, interleaved; return median (first, second) ns.

    A batch times its own two phases (for example registering, then
    removing, 100,000 handlers) and returns both durations.
    """
    samples: dict[str, list[tuple[int, int]]] = {name: [] for name, _ in batches}
    for round_ in range(rounds):
        shift = round_ % len(batches)
        for name, batch in [*batches[shift:], *batches[:shift]]:
            gc.collect()
            samples[name].append(batch())
    return {
        name: (
            statistics.median(first for first, _ in values),
            statistics.median(second for _, second in values),
        )
        for name, values in samples.items()
    }


def format_ns(ns: float) -> str:
    """Format a duration for a table cell."""
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def format_ratio(ratio: float) -> str:
    """Format a ratio for a table cell."""
    if ratio >= 100:
        return f"{ratio:.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Render a Markdown table whose columns line up in plain text too."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return (
            "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)) + " |"
        )

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])

"""Targets: a ratio, its limit, and the line the report prints for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from _callgrind import spread
from _harness import format_ratio


@dataclass(frozen=True)
class Target:
    """One claim the benchmark checks: *ratio* must be at most *limit*."""

    workload: str
    claim: str
    ratio: float
    limit: float
    measured: str

    @property
    def met(self) -> bool:
        return self.ratio <= self.limit


def target_lines(targets: list[Target]) -> list[str]:
    """The report's line for each target: met or missed, and what was measured."""
    return [
        f"- {t.workload}: {t.claim}: **{'met' if t.met else 'missed'}** ({t.measured})"
        for t in targets
    ]


Format = Callable[[float], str]
"""Formats one figure for the report: a time (``format_ns``) or a count (``format_count``)."""

ISSUE10 = (
    ("W1", "pyee_tw", 1.25, "<= 1.25x pyee TwistedEventEmitter"),
    ("W1", "pyee_tw", 1.0, "stretch: <= 1.0x pyee TwistedEventEmitter"),
    ("W3", "original", 1.0, "<= 1.0x the original design"),
    ("W5", "original", 0.75, "<= 0.75x the original design"),
)
"""Issue 10's targets: (workload, peer, limit, claim) on the dispatcher's cost over the peer's."""

TRACING_LIMIT = 3.0
"""Issue 12: W1 with JSON tracing on costs at most this much of W1 untraced."""

UNUSED_LIMIT = 1.05
"""Issue 11: issue 11's features, present but unused, cost at most this much of plain use."""

SEED_LIMIT = 0.05
"""Issue 10: W1's cost under different PYTHONHASHSEED values agrees within this spread."""


def _versus(ours: float, theirs: float, fmt: Format) -> str:
    return f"{format_ratio(ours / theirs)}: {fmt(ours)} vs {fmt(theirs)}"


def issue10_targets(times: Mapping[str, Mapping[str, float]], fmt: Format) -> list[Target]:
    """Issue 10's targets, from each workload's figures per peer (those present)."""
    targets = []
    for workload, peer, limit, claim in ISSUE10:
        figures = times.get(workload, {})
        if "dispatcher" in figures and peer in figures:
            ours, theirs = figures["dispatcher"], figures[peer]
            targets.append(
                Target(workload, claim, ours / theirs, limit, _versus(ours, theirs, fmt))
            )
    return targets


def tracing_target(traced: float, untraced: float, fmt: Format, untraced_is: str) -> Target:
    """Issue 12's target: W1 with JSON tracing on against W1 *untraced_is*."""
    return Target(
        "W7",
        f"JSON tracing on <= {TRACING_LIMIT:g}x untraced ({untraced_is})",
        traced / untraced,
        TRACING_LIMIT,
        _versus(traced, untraced, fmt),
    )


def variant_targets(workload: str, figures: Mapping[str, float], fmt: Format) -> list[Target]:
    """Issue 11's target: each variant but ``plain`` within 5% of ``plain``."""
    base = figures["plain"]
    return [
        Target(
            workload,
            f"{name} within {UNUSED_LIMIT - 1:.0%} of plain registrations",
            value / base,
            UNUSED_LIMIT,
            _versus(value, base, fmt),
        )
        for name, value in figures.items()
        if name != "plain"
    ]


def seed_target(by_seed: Mapping[int, float], fmt: Format) -> Target:
    """Issue 10's target: W1's figures under several hash seeds within 5% of each other."""
    apart = spread(list(by_seed.values()))
    each = ", ".join(f"{seed}: {fmt(value)}" for seed, value in by_seed.items())
    return Target(
        "W1",
        f"under PYTHONHASHSEED {', '.join(map(str, by_seed))}: within {SEED_LIMIT:.0%}",
        apart,
        SEED_LIMIT,
        f"spread {apart:.1%}; {each}",
    )

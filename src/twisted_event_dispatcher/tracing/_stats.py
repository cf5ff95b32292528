"""Handler calls summed up per handler and per phase: counts and duration percentiles."""

from __future__ import annotations

import array
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from twisted_event_dispatcher.tracing._reader import TracedHandler, TracedRun

__all__ = ["PERCENTILES", "CallStats", "TraceStats", "nearest_rank"]

_HUNDRED: Final = 100
PERCENTILES: Final = (50, 95, 99)
"""The percentiles :class:`CallStats` reports and ``tedtool stats`` prints."""


def nearest_rank(ordered: Sequence[float], percent: float) -> float:
    """Return the *percent* percentile of *ordered* (sorted, not empty) by nearest rank.

    The smallest value that at least *percent* % of the values are no greater
    than: the value at rank ``ceil(percent / 100 * n)``, counting from 1 (the
    smallest value for 0).  It is always one of the values, never an
    interpolation.

    Raises:
        ValueError: *ordered* is empty, or *percent* is not within 0 to 100.

    .. versionadded:: 1.2
    """
    if not ordered:
        raise ValueError("nearest_rank() needs at least one value; got an empty sequence")
    if not 0 <= percent <= _HUNDRED:
        raise ValueError(f"percent must be within 0 to 100; got {percent!r}")
    rank = math.ceil(percent / _HUNDRED * len(ordered))
    return ordered[max(rank, 1) - 1]


class CallStats:
    """The handler calls of one handler or one phase: counts, and the settled calls' durations.

    .. versionadded:: 1.2
    """

    __slots__ = ("_durations", "_ordered", "calls", "failures", "timeouts")

    def __init__(self) -> None:
        self.calls = 0
        """How many calls were counted."""
        self.failures = 0
        """How many of them failed."""
        self.timeouts = 0
        """How many of them timed out."""
        self._durations = array.array("d")
        self._ordered: list[float] | None = None

    def add(self, handler: TracedHandler) -> None:
        """Count one handler call; its duration counts when it settled with a finite one."""
        self.calls += 1
        self.failures += handler.status == "failed"
        self.timeouts += handler.status == "timed_out"
        if handler.duration is not None and math.isfinite(handler.duration):
            self._durations.append(handler.duration)
            self._ordered = None

    @property
    def settled(self) -> int:
        """How many of the calls have a duration (settled, with a finite duration)."""
        return len(self._durations)

    def percentile(self, percent: float) -> float | None:
        """Return the *percent* percentile of the durations (:func:`nearest_rank`), or None."""
        if not self._durations:
            return None
        if self._ordered is None:
            self._ordered = sorted(self._durations)
        return nearest_rank(self._ordered, percent)

    def percentiles(self) -> dict[int, float | None]:
        """Return the :data:`PERCENTILES` of the durations, by percent."""
        return {percent: self.percentile(percent) for percent in PERCENTILES}


class TraceStats:
    """Handler calls tallied per handler name and per phase, tree by tree, holding no tree.

    Feed it the trees :func:`~twisted_event_dispatcher.tracing.read_runs`
    yields; it keeps counts and durations only, so it sums up a trace of any
    size in the memory of its durations::

        stats = TraceStats()
        with open("trace.jsonl", "rb") as trace:
            stats.add_all(read_runs(trace))
        stats.handlers["app.charge"].percentile(99)

    .. versionadded:: 1.2
    """

    def __init__(self) -> None:
        self.runs = 0
        """How many runs were counted, child runs included."""
        self.calls = 0
        """How many handler calls were counted."""
        self._handlers: dict[str, CallStats] = {}
        self._phases: dict[str, CallStats] = {}

    @property
    def handlers(self) -> Mapping[str, CallStats]:
        """The calls of each handler, by qualified name, sorted by name."""
        return dict(sorted(self._handlers.items()))

    @property
    def phases(self) -> Mapping[str, CallStats]:
        """The calls in each phase, by phase name, in the order the phases were first seen."""
        return dict(self._phases)

    def add(self, tree: TracedRun) -> None:
        """Count the runs and handler calls of *tree*, its child runs' included."""
        for run in tree.walk():
            self.runs += 1
            for phase in run.phases:
                for handler in phase.handlers:
                    self.calls += 1
                    self._tally(self._handlers, handler.handler_name).add(handler)
                    self._tally(self._phases, handler.phase).add(handler)

    def add_all(self, trees: Iterable[TracedRun]) -> None:
        """Count every tree of *trees* (:meth:`add`)."""
        for tree in trees:
            self.add(tree)

    @staticmethod
    def _tally(tallies: dict[str, CallStats], name: str) -> CallStats:
        tally = tallies.get(name)
        if tally is None:
            tally = tallies[name] = CallStats()
        return tally

"""Graphviz diagrams of dispatchers, their machines and their runs.

graphviz is an optional dependency (``pip install twisted_event_dispatcher[viz]``);
it is imported only inside this package's functions, which raise
:exc:`ModuleNotFoundError` with :data:`PACKAGE_HINT` (how to install it)
when it is missing.  The functions build
:class:`graphviz.Digraph` objects; :func:`write` and :func:`render` turn them
into DOT source, or, with Graphviz's ``dot`` binary, SVG, PNG or PDF::

    from twisted_event_dispatcher import viz

    viz.write(viz.topology(dispatcher), "topology.svg")
    viz.write(viz.topology(dispatcher, details={"kind": "order"}), "why.svg")
    viz.write(viz.run_machine(dispatcher), "machine.dot")
    viz.write(viz.run_trace(run), "run.png")
    viz.write(viz.stats_chart(stats), "stats.svg")

Every diagram's DOT source is the same from one process to the next, so it
diffs cleanly in version control.
"""

from __future__ import annotations

from twisted_event_dispatcher.viz._export import (
    FORMATS,
    INSTALL_HINT,
    PACKAGE_HINT,
    RenderError,
    format_of,
    render,
    write,
)
from twisted_event_dispatcher.viz._machine import canonical_digraph, run_machine
from twisted_event_dispatcher.viz._stats import stats_chart
from twisted_event_dispatcher.viz._style import OUTCOME_COLORS, RUN_STATUS_COLORS
from twisted_event_dispatcher.viz._topology import topology
from twisted_event_dispatcher.viz._trace import run_trace

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "OUTCOME_COLORS",
    "PACKAGE_HINT",
    "RUN_STATUS_COLORS",
    "RenderError",
    "canonical_digraph",
    "format_of",
    "render",
    "run_machine",
    "run_trace",
    "stats_chart",
    "topology",
    "write",
]

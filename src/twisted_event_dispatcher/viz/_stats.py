"""``stats_chart()``: a trace's handler and phase durations as bars, drawn by Graphviz."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from twisted_event_dispatcher.tracing import PERCENTILES, CallStats, TraceStats, format_duration
from twisted_event_dispatcher.viz._export import import_graphviz
from twisted_event_dispatcher.viz._style import FONT, OUTCOME_COLORS, escape

if TYPE_CHECKING:
    import graphviz

__all__ = ["stats_chart"]

_BAR_WIDTH: Final = 240
"""Points the longest bar (the largest p99 of the table) takes."""
_BAR_COLORS: Final = ("#90caf9", "#42a5f5", "#1565c0")
"""p50, p95, p99: light to dark."""
_FAILED_FILL: Final = OUTCOME_COLORS["failed"][0]


def stats_chart(stats: TraceStats, *, limit: int = 80) -> graphviz.Digraph:
    """Draw *stats* as two tables of bars: per handler and per phase, p50, p95 and p99.

    Each row names the handler (or phase), its calls, failures and timeouts,
    and draws its durations' percentiles (:data:`~twisted_event_dispatcher.tracing.PERCENTILES`)
    as three bars on one scale per table, the largest p99 the longest bar;
    a row with failures or timeouts is tinted.  The drawing is a Graphviz
    graph like the others of this package: :func:`write` or :func:`render`
    it as SVG, PNG, PDF or DOT.

    Args:
        stats: What :class:`~twisted_event_dispatcher.tracing.TraceStats`
            summed up.
        limit: Cut each name to this many characters.

    Raises:
        ModuleNotFoundError: The graphviz package (the ``viz`` extra) is
            not installed; the message says how to install it.

    .. versionadded:: 1.2
    """
    graphviz = import_graphviz()
    graph = graphviz.Digraph(
        "trace_stats",
        graph_attr={
            "fontname": FONT,
            "label": f"{stats.runs} runs, {stats.calls} handler calls",
            "labelloc": "t",
            "fontsize": "16",
            "rankdir": "TB",
        },
        node_attr={"shape": "plain", "fontname": FONT},
    )
    for name, title, tallies in (
        ("handlers", "handler", stats.handlers),
        ("phases", "phase", stats.phases),
    ):
        if tallies:
            graph.node(name, label=f"<{_table(title, tallies, limit)}>")
    if stats.handlers and stats.phases:
        graph.edge("handlers", "phases", style="invis")
    return graph


def _table(title: str, tallies: Mapping[str, CallStats], limit: int) -> str:
    scale = max((tally.percentile(99) or 0.0 for tally in tallies.values()), default=0.0)
    legend = "".join(
        f'<TD BGCOLOR="{color}"> </TD><TD ALIGN="LEFT">p{percent}</TD>'
        for percent, color in zip(PERCENTILES, _BAR_COLORS, strict=True)
    )
    rows = [
        '<TR><TD ALIGN="LEFT"><B>' + escape(title) + "</B></TD><TD><B>calls</B></TD>"
        "<TD><B>failed</B></TD><TD><B>timed out</B></TD>"
        f'<TD ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="2"><TR>{legend}</TR></TABLE></TD></TR>'
    ]
    for name, tally in tallies.items():
        tint = f' BGCOLOR="{_FAILED_FILL}"' if tally.failures or tally.timeouts else ""
        rows.append(
            f'<TR><TD ALIGN="LEFT"{tint}>{escape(name, limit)}</TD>'
            f'<TD ALIGN="RIGHT">{tally.calls}</TD><TD ALIGN="RIGHT">{tally.failures}</TD>'
            f'<TD ALIGN="RIGHT">{tally.timeouts}</TD>'
            f'<TD ALIGN="LEFT">{_bars(tally, scale)}</TD></TR>'
        )
    return (
        '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">'
        + "".join(rows)
        + "</TABLE>"
    )


def _bars(tally: CallStats, scale: float) -> str:
    """Three bars (one per percentile) on one scale, then their values; ``-`` with no duration."""
    if tally.settled == 0:
        return "-"
    rows = []
    for percent, color in zip(PERCENTILES, _BAR_COLORS, strict=True):
        value = tally.percentile(percent) or 0.0
        width = max(1, round(_BAR_WIDTH * value / scale)) if scale > 0 else 1
        # The bar and a blank filling the rest of the scale, in a table of their own
        # as wide as the scale: every bar starts, and every value stands, at one place.
        rest = _BAR_WIDTH - width
        filler = f'<TD WIDTH="{rest}" HEIGHT="8" FIXEDSIZE="TRUE"></TD>' if rest > 0 else ""
        rows.append(
            '<TR><TD><TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
            f'<TD BGCOLOR="{color}" WIDTH="{width}" HEIGHT="8" FIXEDSIZE="TRUE"></TD>'
            f"{filler}</TR></TABLE></TD>"
            f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{escape(format_duration(value))}'
            "</FONT></TD></TR>"
        )
    return '<TABLE BORDER="0" CELLSPACING="1" CELLPADDING="0">' + "".join(rows) + "</TABLE>"

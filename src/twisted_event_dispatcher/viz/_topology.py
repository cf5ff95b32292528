"""``topology()``: a dispatcher's phases and handlers, and what given details would call."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from twisted_event_dispatcher.tracing import printable
from twisted_event_dispatcher.tracing._logger import bounded_repr
from twisted_event_dispatcher.viz._export import import_graphviz
from twisted_event_dispatcher.viz._style import DIMMED, FONT, HIGHLIGHT, PHASE_FILL, escape

if TYPE_CHECKING:
    import graphviz

    from twisted_event_dispatcher.runtime import EventDispatcher, HandlerRegistration

__all__ = ["topology"]

_COLUMN: Final = 12
"""Handler nodes per column inside a phase, so a phase of 50 handlers stays compact."""


def _spec_lines(reg: HandlerRegistration, keywords: Sequence[str]) -> list[str]:
    if reg.catch_all:
        return ["catch-all: every event"]
    spec = reg.match_spec
    lines = [f"{key}={bounded_repr(spec[key])}" for key in keywords if key in spec]
    lines += [f"{key}=*" for key in keywords if key not in spec]
    lines += [f"{key}={bounded_repr(value)}" for key, value in spec.items() if key not in keywords]
    return lines


def _label(reg: HandlerRegistration, keywords: Sequence[str], order: int | None) -> str:
    title = escape(reg.handler_name)
    if order is not None:
        title = f"#{order} {title}"
    spec = "<BR/>".join(escape(line) for line in _spec_lines(reg, keywords))
    limit = "max_calls=∞" if reg.max_calls is None else f"max_calls={reg.max_calls}"
    meta = f"{limit} · calls={reg.calls} · {'weak' if reg.weak else 'strong'}"
    return (
        f'<<B>{title}</B><BR/><FONT POINT-SIZE="10">{spec}</FONT>'
        f'<BR/><FONT POINT-SIZE="9" COLOR="#555555">{escape(meta)}</FONT>>'
    )


def _node_id(reg: HandlerRegistration) -> str:
    return f"h{int(reg.handler_id)}"


def _call_order(dispatcher: EventDispatcher, details: Mapping[str, Any]) -> dict[int, int]:
    """Map the id of each handler firing with *details* would call to its call position."""
    order: dict[int, int] = {}
    for regs in dispatcher.matching_handlers(**details).values():
        for reg in regs:
            order[int(reg.handler_id)] = len(order) + 1
    return order


def topology(
    dispatcher: EventDispatcher, *, details: Mapping[str, Any] | None = None
) -> graphviz.Digraph:
    """Draw *dispatcher*'s phases, left to right, with every handler registered in each.

    Each handler is a node labelled with its qualified name, its match spec
    (keywords it leaves open shown as ``key=*``), ``max_calls``, how often it
    has been called, and whether it is held weakly (dashed border) or
    strongly; catch-all handlers have a double border.

    Args:
        dispatcher: The dispatcher to draw.
        details: Event details to explain: the handlers
            :meth:`~twisted_event_dispatcher.EventDispatcher.matching_handlers`
            says firing with them would call are highlighted and numbered in
            call order, and every other handler is dimmed.  Nothing is called.

    Returns:
        A :class:`graphviz.Digraph`; see :func:`write` to save it.

    Raises:
        ValueError: A key of *details* is not an allowed keyword.
        TypeError: A value of *details* is not hashable.
        ModuleNotFoundError: The graphviz package (the ``viz`` extra) is
            not installed; the message says how to install it.

    .. versionadded:: 1.0
    """
    graphviz = import_graphviz()

    keywords = dispatcher.match_spec_keywords
    order = None if details is None else _call_order(dispatcher, details)
    registrations = dispatcher.handlers()
    by_phase: dict[str, list[HandlerRegistration]] = {phase: [] for phase in dispatcher.phases}
    for reg in registrations:
        by_phase[reg.phase].append(reg)

    title = f"EventDispatcher: {len(registrations)} handlers in {len(by_phase)} phases"
    if details is not None:
        assert order is not None  # noqa: S101 -- set together with details
        shown = ", ".join(f"{key}={bounded_repr(value)}" for key, value in details.items())
        shown = printable(shown or "no details")
        title += f"\\nfiring with {shown} calls {len(order)} (highlighted, in call order)"
    title += "\\ndashed border: weak reference · double border: catch-all"
    graph = graphviz.Digraph(
        "topology",
        graph_attr={
            "rankdir": "LR",
            "compound": "true",
            "newrank": "true",
            "nodesep": "0.25",
            "ranksep": "0.6",
            "fontname": FONT,
            "label": title,
            "labelloc": "t",
            "fontsize": "16",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fontname": FONT,
            "fillcolor": "white",
        },
        edge_attr={"fontname": FONT, "color": "#607d8b", "penwidth": "1.5"},
    )
    previous: tuple[str, str] | None = None
    for index, (phase, regs) in enumerate(by_phase.items()):
        cluster = f"cluster_phase_{index}"
        with graph.subgraph(name=cluster) as sub:
            columns = _draw_phase(sub, index, phase, regs=regs, keywords=keywords, order=order)
        if previous is not None:
            graph.edge(previous[0], columns[0][0], ltail=previous[1], lhead=cluster, weight="10")
        previous = (columns[-1][0], cluster)
    return graph


def _draw_phase(
    sub: Any,
    index: int,
    phase: str,
    *,
    regs: list[HandlerRegistration],
    keywords: Sequence[str],
    order: dict[int, int] | None,
) -> list[list[str]]:
    """Draw one phase's cluster; return its node ids, column by column."""
    sub.attr(
        label=f"{index + 1}. {phase}",
        style="rounded,filled",
        fillcolor=PHASE_FILL,
        color="#90a4ae",
        fontname=FONT,
        fontsize="14",
        labeljust="l",
    )
    nodes: list[str] = []
    if not regs:
        empty = f"empty_{index}"
        sub.node(empty, "(no handlers)", shape="plaintext", style="", fontcolor="#777777")
        nodes.append(empty)
    for reg in regs:
        node = _node_id(reg)
        nodes.append(node)
        position = None if order is None else order.get(int(reg.handler_id))
        attrs = _node_attrs(reg, highlighted=position is not None, explaining=order is not None)
        sub.node(node, _label(reg, keywords, position), **attrs)
    columns = [nodes[start : start + _COLUMN] for start in range(0, len(nodes), _COLUMN)]
    for column in columns:
        sub.body.append("\t{rank=same; " + " ".join(f'"{n}";' for n in column) + "}\n")
    for left, right in itertools.pairwise(columns):
        sub.edge(left[0], right[0], style="invis", weight="10")
    return columns


def _node_attrs(
    reg: HandlerRegistration, *, highlighted: bool, explaining: bool
) -> dict[str, str]:
    styles = ["rounded", "filled"]
    if reg.weak:
        styles.append("dashed")
    attrs = {"style": ",".join(styles), "id": f"handler-{int(reg.handler_id)}"}
    if reg.catch_all:
        attrs["peripheries"] = "2"
    if highlighted:
        attrs.update(fillcolor=HIGHLIGHT[0], color=HIGHLIGHT[1], penwidth="2.5")
    elif explaining:
        attrs.update(color=DIMMED, fontcolor=DIMMED, fillcolor="#fafafa")
    return attrs

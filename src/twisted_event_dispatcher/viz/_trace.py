"""``run_trace()``: one finished run's path through its phases, handlers coloured by outcome."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from twisted_event_dispatcher.runtime import EventRun
from twisted_event_dispatcher.tracing import TracedRun, format_duration
from twisted_event_dispatcher.viz._export import import_graphviz
from twisted_event_dispatcher.viz._style import (
    DIMMED,
    FONT,
    OUTCOME_COLORS,
    PHASE_FILL,
    RUN_STATUS_COLORS,
    escape,
    plain,
)

if TYPE_CHECKING:
    import graphviz

__all__ = ["run_trace"]

_MESSAGE_WIDTH = 60


def run_trace(
    run: EventRun | TracedRun,
    *,
    children: Iterable[EventRun] = (),
    phases: Iterable[str] = (),
) -> graphviz.Digraph:
    """Draw one finished run: its path through the phases, each handler coloured by outcome.

    Each handler call is a node labelled with its name, outcome and duration,
    filled with its outcome's colour (:data:`OUTCOME_COLORS`).  Each child run
    is drawn as a run of its own, linked by a dashed ``fired`` edge from the
    handler call that fired it (from the parent run, when only an
    :class:`~twisted_event_dispatcher.EventRun` is known).

    Args:
        run: An :class:`~twisted_event_dispatcher.EventRun`, or a
            :class:`~twisted_event_dispatcher.tracing.TracedRun` read back
            from a trace by :func:`~twisted_event_dispatcher.tracing.read_runs`
            (which carries its child runs).
        children: With an EventRun, its child runs (and theirs).
        phases: With an EventRun, the dispatcher's phases, so phases without
            handlers show too.

    Raises:
        ModuleNotFoundError: The graphviz package (the ``viz`` extra) is
            not installed; the message says how to install it.

    .. versionadded:: 1.0
    """
    graphviz = import_graphviz()

    traced = TracedRun.from_event_run(run, children, phases) if isinstance(run, EventRun) else run
    graph = graphviz.Digraph(
        "run_trace",
        graph_attr={
            "rankdir": "LR",
            "compound": "true",
            "newrank": "true",
            "fontname": FONT,
            "nodesep": "0.25",
            "label": plain(f"run {traced.run_id}"),
            "labelloc": "t",
            "fontsize": "16",
        },
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": FONT},
        edge_attr={"fontname": FONT, "color": "#607d8b", "penwidth": "1.5"},
    )
    # Depth first, without recursion: a chain of child runs of any depth draws.
    pending: list[tuple[TracedRun, str | None]] = [(traced, None)]
    number = 0
    while pending:
        run, fired_from = pending.pop()
        nested = _draw(graph, run, number, fired_from)
        pending.extend(reversed(nested))
        number += 1
    return graph


def _draw(
    graph: Any, run: TracedRun, number: int, fired_from: str | None
) -> list[tuple[TracedRun, str]]:
    """Draw *run*; return its child runs, each with the node it was fired from."""
    prefix = f"r{number}"
    colour = RUN_STATUS_COLORS.get(run.status, DIMMED)
    title = f"run {run.run_id}"
    if run.event_type:
        title += f" · {run.event_type}"
    subtitle = run.status + ("" if run.duration is None else f" · {format_duration(run.duration)}")
    nested: list[tuple[TracedRun, str]] = []
    with graph.subgraph(name=f"cluster_{prefix}") as sub:
        sub.attr(label="", style="rounded", color=colour, penwidth="2")
        start = f"{prefix}_start"
        details = "<BR/>".join(escape(f"{k}={v}") for k, v in run.details.items())
        sub.node(
            start,
            f'<<B>{escape(title)}</B><BR/><FONT POINT-SIZE="10">{details}</FONT>>',
            shape="box",
            style="rounded,bold",
            color=colour,
            id=plain(f"run-{run.run_id}"),
        )
        end = f"{prefix}_end"
        sub.node(
            end,
            escape(subtitle),
            shape="box",
            style="rounded,filled",
            fillcolor=colour,
            fontcolor="white",
            fontsize="10",
        )
        previous, previous_cluster = start, None
        for index, phase in enumerate(run.phases):
            cluster = f"cluster_{prefix}_p{index}"
            with sub.subgraph(name=cluster) as phase_graph:
                phase_graph.attr(
                    label=phase.name + (" (failed)" if phase.failed else ""),
                    style="rounded,filled",
                    fillcolor=PHASE_FILL,
                    color="#90a4ae",
                    labeljust="l",
                )
                nodes: list[str] = []
                if not phase.handlers:
                    empty = f"{prefix}_p{index}_empty"
                    phase_graph.node(empty, "(no handlers)", shape="plaintext", style="")
                    nodes.append(empty)
                for h_index, handler in enumerate(phase.handlers):
                    node = f"{prefix}_p{index}_h{h_index}"
                    nodes.append(node)
                    fill, border = OUTCOME_COLORS.get(handler.status, ("white", DIMMED))
                    lines = [f"<B>{escape(handler.handler_name)}</B>", escape(handler.status)]
                    if handler.exception_type is not None:
                        message = f"{handler.exception_type}: {handler.exception_message}"
                        if len(message) > _MESSAGE_WIDTH:
                            message = message[: _MESSAGE_WIDTH - 1] + "…"
                        lines.append(f'<FONT POINT-SIZE="9">{escape(message)}</FONT>')
                    lines.append(escape(format_duration(handler.duration)))
                    phase_graph.node(
                        node,
                        "<" + "<BR/>".join(lines) + ">",
                        fillcolor=fill,
                        color=border,
                        id=plain(f"{run.run_id}-{index}-{h_index}-{handler.status}"),
                    )
                    nested.extend((child, node) for child in handler.children)
                phase_graph.body.append(
                    "\t{rank=same; " + " ".join(f'"{n}";' for n in nodes) + "}\n"
                )
            edge: dict[str, str] = {"lhead": cluster}
            if previous_cluster is not None:
                edge["ltail"] = previous_cluster
            sub.edge(previous, nodes[0], **edge)
            previous, previous_cluster = nodes[0], cluster
        tail = {} if previous_cluster is None else {"ltail": previous_cluster}
        sub.edge(previous, end, color=colour, **tail)
    if fired_from is not None:
        graph.edge(fired_from, start, style="dashed", label="fired", color="#7b1fa2")
    nested.extend((child, start) for child in run.orphans)
    return nested

"""``run_machine()``: automat's own graph of the run machine, in a canonical, diffable order."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from twisted_event_dispatcher.viz._export import import_graphviz
from twisted_event_dispatcher.viz._style import quote

if TYPE_CHECKING:
    import graphviz

    from twisted_event_dispatcher.runtime import EventDispatcher

__all__ = ["canonical_digraph", "run_machine"]

_NODE: Final = re.compile(r'^\t(?P<id>"(?:[^"\\]|\\.)*"|[^\s"]+) \[(?P<attrs>.*)\]$')
_EDGE: Final = re.compile(r"^\t(?P<tail>.+?) -> (?P<head>.+?)(?: \[(?P<attrs>.*)\])?$")
_PORT: Final = re.compile(r"^(?P<node>t\d+):(?P<port>tableport):(?P<compass>[we])$")


class _Transition(NamedTuple):
    source: str
    target: str
    label: str


def _unquote(identifier: str) -> str:
    if identifier.startswith('"') and identifier.endswith('"'):
        return re.sub(r"\\(.)", r"\1", identifier[1:-1])
    return identifier


def _parse(digraph: Any) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str]]]:
    """Split automat's body into state nodes, transition nodes and edges (raw DOT text)."""
    states: dict[str, str] = {}
    labels: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for raw in digraph.body:
        line = raw.rstrip("\n")
        edge = _EDGE.match(line) if " -> " in line else None
        if edge is not None:
            edges.append((edge["tail"], edge["head"]))
            continue
        node = _NODE.match(line)
        if node is None:
            raise ValueError(f"unexpected line in automat's digraph: {line!r}")
        name = _unquote(node["id"])
        if re.fullmatch(r"t\d+", name) and "label=<" in node["attrs"]:
            labels[name] = node["attrs"]
        else:
            states[name] = node["attrs"]
    return states, labels, edges


def canonical_digraph(
    digraph: graphviz.Digraph, state_order: tuple[str, ...] = ()
) -> graphviz.Digraph:
    """Rebuild automat's ``asDigraph()`` output in a canonical order, with safe quoting.

    automat numbers transitions (``t0``, ``t1``, ...) in the iteration order
    of its sets, which changes with the hash seed; this sorts states (by
    *state_order*, then by name) and transitions (by source, target and
    label), renumbers the transitions, and quotes every state name (automat
    leaves names such as ``phase:before`` unquoted in edges, where Graphviz
    reads the colon as a port).

    .. versionadded:: 1.0
    """
    graphviz = import_graphviz()

    states, labels, edges = _parse(digraph)
    edge_states: dict[str, str] = {}
    for name in states:
        for spelling in (graphviz.quoting.quote_edge(name), quote(name), name):
            edge_states[spelling] = name
    sources: dict[str, str] = {}
    targets: dict[str, str] = {}
    for tail, head in edges:
        tail_port, head_port = _PORT.match(tail), _PORT.match(head)
        if head_port is not None:
            sources[head_port["node"]] = edge_states[tail]
        elif tail_port is not None:
            targets[tail_port["node"]] = edge_states[head]
    rank = {name: index for index, name in enumerate(state_order)}

    def state_key(name: str) -> tuple[int, str]:
        return (rank.get(name, len(rank)), name)

    transitions = sorted(
        (_Transition(sources[t], targets[t], labels[t]) for t in labels),
        key=lambda tr: (state_key(tr.source), state_key(tr.target), tr.label),
    )
    graph = graphviz.Digraph(
        digraph.name,
        graph_attr=dict(digraph.graph_attr),
        node_attr=dict(digraph.node_attr),
        edge_attr=dict(digraph.edge_attr),
    )
    for name in sorted(states, key=state_key):
        graph.body.append(f"\t{quote(name)} [{states[name]}]\n")
    for number, transition in enumerate(transitions):
        tnode = f"t{number}"
        graph.body.append(f"\t{tnode} [{transition.label}]\n")
        graph.body.append(
            f"\t{quote(transition.source)} -> {tnode}:tableport:w [arrowhead=none]\n"
        )
        graph.body.append(f"\t{tnode}:tableport:e -> {quote(transition.target)}\n")
    return graph


def run_machine(
    dispatcher: EventDispatcher | tuple[str, ...], always: Iterable[str] = ()
) -> graphviz.Digraph:
    """Draw the automat machine that carries each run of *dispatcher* through its phases.

    The graph is the built machine's own (``TypeMachine.asDigraph()``): its
    states (``waiting``, ``phase:<name>`` per phase, the end states), the
    inputs that move between them and the outputs they run, so it cannot
    drift from the code.  Its DOT source is the same in every process.

    Cleanup phases (``always``) add the states ``aborting:<phase>`` and
    ``cancelling:<phase>``, and the ``phase_failed`` and ``cancel``
    transitions that lead through them to ``aborted`` and ``cancelled``.

    Args:
        dispatcher: The dispatcher, or a tuple of phase names.
        always: With a tuple of phase names, the cleanup phases among them
            (a dispatcher knows its own).

    .. versionchanged:: 1.2
       Draws cleanup phases; added *always*.

    Raises:
        ModuleNotFoundError: The graphviz package (the ``viz`` extra) is
            not installed; the message says how to install it.

    .. versionadded:: 1.0
    """
    from twisted_event_dispatcher.machines import (
        END_STATES,
        cleanup_state_names,
        make_run_machine,
        phase_state_name,
    )

    import_graphviz()  # automat's asDigraph() imports it without a hint
    if isinstance(dispatcher, tuple):
        phases, always = dispatcher, tuple(always)
    else:
        phases, always = dispatcher.phases, dispatcher.always
    cleanup = [
        state for phase in phases if phase in always for state in cleanup_state_names(phase)
    ]
    order = ("waiting", *(phase_state_name(phase) for phase in phases), *cleanup, *END_STATES)
    graph = canonical_digraph(make_run_machine(phases, always).asDigraph(), order)
    # automat sets dpi=100: dot then scales the drawing by 100/72 inside an SVG viewBox
    # of the unscaled size, and every viewer clips it.  Points (72 dpi) fit.
    graph.graph_attr.pop("dpi", None)
    graph.graph_attr["rankdir"] = "LR"
    graph.graph_attr["label"] = "run machine: phases " + " → ".join(phases)
    graph.graph_attr["labelloc"] = "t"
    return graph

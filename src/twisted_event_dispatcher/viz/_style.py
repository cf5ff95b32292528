"""Colours, fonts and label helpers shared by the diagrams."""

from __future__ import annotations

import html
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from twisted_event_dispatcher.tracing import DEFAULT_VALUE_LENGTH, printable

__all__ = ["FONT", "OUTCOME_COLORS", "RUN_STATUS_COLORS", "escape", "quote"]

FONT: Final = "Helvetica"

OUTCOME_COLORS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "succeeded": ("#c8e6c9", "#2e7d32"),
        "failed": ("#ffcdd2", "#c62828"),
        "timed_out": ("#ffe0b2", "#ef6c00"),
        "cancelled": ("#e0e0e0", "#616161"),
        "pending": ("#fff9c4", "#f9a825"),
    }
)
"""Fill and border colour of a handler node, by outcome status.

.. versionadded:: 1.0
"""

RUN_STATUS_COLORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "completed": "#2e7d32",
        "aborted": "#c62828",
        "cancelled": "#616161",
        "dropped": "#616161",
        "rejected": "#c62828",
        "unfinished": "#f9a825",
    }
)
"""Border colour of a run, by run status.

.. versionadded:: 1.0
"""

HIGHLIGHT: Final = ("#c8e6c9", "#2e7d32")
DIMMED: Final = "#b0b0b0"
PHASE_FILL: Final = "#f5f7fa"


def escape(text: object, limit: int = DEFAULT_VALUE_LENGTH) -> str:
    """Escape *text* for a Graphviz HTML-like label, cut to *limit* characters.

    Graphviz refuses HTML-like labels longer than 16 KB, and a name of
    thousands of characters makes no readable diagram anyway.
    """
    return html.escape(printable(str(text), limit), quote=True)


def plain(text: object, limit: int = DEFAULT_VALUE_LENGTH) -> str:
    """Return *text* for a plain (not HTML-like) attribute: printable, cut, backslashes doubled.

    Graphviz reads a backslash in a quoted string as the start of an escape;
    a run id ending in one would end the string early.
    """
    return printable(str(text), limit).replace("\\", "\\\\")


def quote(identifier: str) -> str:
    """Quote *identifier* as a DOT ID, whatever characters (``:``, spaces) it holds."""
    return '"' + identifier.replace("\\", "\\\\").replace('"', '\\"') + '"'

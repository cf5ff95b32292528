"""Graphviz diagrams of dispatchers, their machines and their runs.

graphviz is an optional dependency (``pip install twisted_event_dispatcher[viz]``);
it is imported only inside this package's functions.
"""

from __future__ import annotations

__all__: list[str] = []

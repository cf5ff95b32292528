"""zope.interface declarations of what a dispatcher provides.

Register an :class:`~twisted_event_dispatcher.EventDispatcher` as a utility
providing :class:`IEventDispatcher` with the zope component architecture, or
keep it any other way.

.. versionadded:: 1.0
"""

from __future__ import annotations

from typing import Any

from zope.interface import Attribute, Interface

__all__ = ["IBackgroundUtility", "IEventDispatcher"]


class IBackgroundUtility(Interface):
    """A utility that does its work in the background between ``start()`` and ``stop()``."""

    running = Attribute("True from start() until stop() is called.")

    def start() -> None:
        """Start working."""

    def stop() -> Any:
        """Stop working; return a Deferred that fires once outstanding work is done."""


class IEventDispatcher(Interface):
    """Calls handlers, phase by phase, for the events fired at it."""

    phases = Attribute("The configured phases, in order (a tuple of str).")
    match_spec_keywords = Attribute("The keywords match specs and details may use (a tuple).")

    def add_event_handler(
        listen_fn: Any, phase: Any, use_weakref: Any = True, **match_spec: Any
    ) -> Any:
        """Register *listen_fn* for *phase*; return a Deferred firing with its handler id."""

    def remove_event_handler(handler_id: Any) -> Any:
        """Remove a handler; return a Deferred firing with None."""

    def fire_event(event: Any, **event_details: Any) -> Any:
        """Call every matching handler, phase by phase; return a Deferred firing with the run."""

    def add_match_spec_keyword(name: str) -> None:
        """Allow *name* in match specs and details."""

    def remove_match_spec_keyword(name: str) -> None:
        """Disallow *name*, unless a registered handler's match spec uses it."""

    def handlers() -> Any:
        """Return read-only records of the registered handlers."""

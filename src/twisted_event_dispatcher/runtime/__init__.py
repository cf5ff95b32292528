"""The dispatcher runtime: the dispatcher, its registry and match index, handler references."""

from __future__ import annotations

from twisted_event_dispatcher.runtime._dispatcher import DEFAULT_PHASES, EventDispatcher
from twisted_event_dispatcher.runtime._records import EventRun, HandlerOutcome, HandlerRegistration

__all__ = [
    "DEFAULT_PHASES",
    "EventDispatcher",
    "EventRun",
    "HandlerOutcome",
    "HandlerRegistration",
]

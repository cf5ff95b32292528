"""The dispatcher runtime: the dispatcher, its registry and match index, its service, threads."""

from __future__ import annotations

from twisted_event_dispatcher.runtime._dispatcher import DEFAULT_PHASES, EventDispatcher
from twisted_event_dispatcher.runtime._records import EventRun, HandlerOutcome, HandlerRegistration
from twisted_event_dispatcher.runtime._service import DispatcherService
from twisted_event_dispatcher.runtime._threads import fire_event_from_thread

__all__ = [
    "DEFAULT_PHASES",
    "DispatcherService",
    "EventDispatcher",
    "EventRun",
    "HandlerOutcome",
    "HandlerRegistration",
    "fire_event_from_thread",
]

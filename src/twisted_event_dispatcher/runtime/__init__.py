"""The dispatcher runtime: the dispatcher, its registry and match index, its service, threads."""

from __future__ import annotations

from twisted_event_dispatcher.runtime._dispatcher import (
    DEFAULT_PHASES,
    EventDispatcher,
    current_call,
)
from twisted_event_dispatcher.runtime._records import (
    CurrentCall,
    EventRun,
    HandlerOutcome,
    HandlerRegistration,
    RunInFlight,
    RunOrigin,
)
from twisted_event_dispatcher.runtime._service import DispatcherService
from twisted_event_dispatcher.runtime._threads import fire_event_from_thread

__all__ = [
    "DEFAULT_PHASES",
    "CurrentCall",
    "DispatcherService",
    "EventDispatcher",
    "EventRun",
    "HandlerOutcome",
    "HandlerRegistration",
    "RunInFlight",
    "RunOrigin",
    "current_call",
    "fire_event_from_thread",
]

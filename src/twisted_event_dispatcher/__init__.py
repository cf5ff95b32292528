"""An in-process event dispatcher for Twisted applications.

Handlers register for a phase and a match spec; :meth:`EventDispatcher.fire_event`
calls every matching handler, phase by phase, waiting for the Deferreds and
coroutines they return.
"""

from __future__ import annotations

from importlib.metadata import version as _version

from twisted_event_dispatcher.exceptions import (
    AbortRun,
    DispatcherNotRunning,
    HandlerCollectedWarning,
    HandlerTimedOut,
    QueueFull,
    UnknownHandlerError,
)
from twisted_event_dispatcher.interfaces import IBackgroundUtility, IEventDispatcher
from twisted_event_dispatcher.runtime import (
    DEFAULT_PHASES,
    CurrentCall,
    DispatcherService,
    EventDispatcher,
    EventRun,
    HandlerOutcome,
    HandlerRegistration,
    RunInFlight,
    RunOrigin,
    current_call,
    fire_event_from_thread,
)
from twisted_event_dispatcher.typing import HandlerId

__version__ = _version("twisted_event_dispatcher")

__all__ = [
    "DEFAULT_PHASES",
    "AbortRun",
    "CurrentCall",
    "DispatcherNotRunning",
    "DispatcherService",
    "EventDispatcher",
    "EventRun",
    "HandlerCollectedWarning",
    "HandlerId",
    "HandlerOutcome",
    "HandlerRegistration",
    "HandlerTimedOut",
    "IBackgroundUtility",
    "IEventDispatcher",
    "QueueFull",
    "RunInFlight",
    "RunOrigin",
    "UnknownHandlerError",
    "__version__",
    "current_call",
    "fire_event_from_thread",
]

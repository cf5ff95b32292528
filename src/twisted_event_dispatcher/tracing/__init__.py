"""Structured tracing of dispatcher runs through structlog.

Every record the runtime emits goes through the logger named
:data:`LOGGER_NAME`; once the application has configured structlog, that
configuration decides where records go.
"""

from __future__ import annotations

from twisted_event_dispatcher.tracing._logger import LOGGER_NAME

__all__ = ["LOGGER_NAME"]

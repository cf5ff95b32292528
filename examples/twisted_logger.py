"""Recipe: route the dispatcher's structlog records into ``twisted.logger``.

structlog's bundled ``structlog.twisted`` module targets the legacy
``twisted.python.log``; this finishes the application's processor chain
with a processor that emits each record to a :class:`twisted.logger.Logger`,
its keys becoming the event's fields.
"""

from __future__ import annotations

from typing import Any

import structlog
from twisted.logger import Logger, LogLevel

_twisted_log = Logger(namespace="twisted_event_dispatcher")


def emit_to_twisted_logger(logger: Any, method_name: str, event_dict: Any) -> Any:
    """Emit the record to twisted.logger, then drop it from structlog's chain."""
    event_dict.pop("level", None)  # twisted.logger's own log_level says it
    level = LogLevel.levelWithName("warn" if method_name == "warning" else method_name)
    _twisted_log.emit(level, "{event}", **event_dict)
    raise structlog.DropEvent


def configure() -> None:
    """Configure structlog (the application's choice) to hand every record to twisted.logger."""
    structlog.configure(
        processors=[
            structlog.processors.format_exc_info,
            emit_to_twisted_logger,
        ],
    )


if __name__ == "__main__":
    import sys

    from twisted.internet.task import Clock
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from twisted_event_dispatcher import EventDispatcher

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    configure()
    dispatcher = EventDispatcher(("kind",), reactor=Clock())
    dispatcher.start()
    dispatcher.fire_event("hello", kind="greeting")

"""Where the runtime's structlog records go, and the fixed keys of a transition record."""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

import structlog

__all__ = ["LOGGER_NAME", "application_logger", "get_logger", "is_debug_enabled", "set_tracer"]

LOGGER_NAME: Final = "twisted_event_dispatcher"
"""The name every logger of the runtime is created with."""

_fallback: Any = None
_cached: tuple[tuple[Any, ...], Any] | None = None
"""structlog's configuration, and the bound logger built from it."""
_tracer: Any = None
"""The bound logger :func:`~twisted_event_dispatcher.tracing.configure_tracing` installed."""


class _StandardError:
    """A structlog logger writing to whatever ``sys.stderr`` is at the time of the call."""

    def msg(self, message: str) -> None:
        """Write *message* and a newline to standard error."""
        print(message, file=sys.stderr, flush=True)  # noqa: T201

    log = debug = info = warning = error = critical = exception = msg


def get_logger() -> Any:
    """Return the logger the runtime logs through, resolved at the time of the call.

    While :func:`~twisted_event_dispatcher.tracing.configure_tracing` is in
    effect, that is its tracing logger (which also forwards every record to
    :func:`application_logger`).  Otherwise it is :func:`application_logger`.
    """
    if _tracer is not None:
        return _tracer
    return application_logger()


def application_logger() -> Any:
    """Return the logger the application's structlog configuration provides.

    Once the application has configured structlog, that configuration
    decides everything.  Until then, structlog's built-in default would print
    every debug record to standard output; a library must not do that, so
    the runtime falls back to warnings and errors on standard error, as the
    standard library's last-resort handler does.

    The logger comes back bound (not a lazy proxy, which would rebuild itself
    on every call) and is rebuilt whenever structlog's configuration changes,
    as ``cache_logger_on_first_use`` would do if it noticed reconfiguration.
    """
    global _fallback, _cached  # noqa: PLW0603 -- caches, rebuilt when stale
    if not structlog.is_configured():
        if _fallback is None:
            _fallback = structlog.wrap_logger(
                _StandardError(),
                wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                processors=[
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso"),
                    structlog.dev.ConsoleRenderer(colors=False),
                ],
                logger_name=LOGGER_NAME,
            ).bind()
        return _fallback
    config = tuple(structlog.get_config().values())
    if _cached is None or _cached[0] != config:
        _cached = (config, structlog.get_logger(LOGGER_NAME).bind())
    return _cached[1]


def set_tracer(tracer: Any) -> Any:
    """Make *tracer* (a bound logger, or None) what :func:`get_logger` returns.

    Returns:
        The tracer it replaces.
    """
    global _tracer
    previous, _tracer = _tracer, tracer
    return previous


def is_debug_enabled(log: Any) -> bool:
    """Whether *log* (a bound logger) would emit a debug record.

    The runtime asks once per run and skips building debug records when the
    answer is no, so filtered-out tracing costs next to nothing.
    """
    check = getattr(log, "is_enabled_for", None) or getattr(log, "isEnabledFor", None)
    if check is None:
        return True
    return bool(check(logging.DEBUG))

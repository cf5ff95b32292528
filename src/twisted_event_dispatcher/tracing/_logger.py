"""Where the runtime's structlog records go, and the fixed keys of a transition record."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import TYPE_CHECKING, Any, Final, TextIO

import structlog

from twisted_event_dispatcher._safe import safe_repr, safe_str

if TYPE_CHECKING:
    from structlog.typing import EventDict, ExcInfo, WrappedLogger

__all__ = [
    "FALLBACK_TRACEBACK_LINES",
    "FALLBACK_VALUE_LIMIT",
    "LOGGER_NAME",
    "application_logger",
    "bound_values",
    "bounded_repr",
    "bounded_str",
    "get_logger",
    "is_debug_enabled",
    "plain_bounded_traceback",
    "set_tracer",
]

LOGGER_NAME: Final = "twisted_event_dispatcher"
"""The name every logger of the runtime is created with."""

FALLBACK_VALUE_LIMIT: Final = 2_000
"""Characters of one value (a message, a repr, a traceback line) the fallback output keeps."""
FALLBACK_TRACEBACK_LINES: Final = 100
"""Lines of one traceback the fallback output keeps: the first few and the innermost."""

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

    That fallback must never cost the application: it renders tracebacks
    plainly, without local variables (structlog's default, with ``rich``
    installed, renders every frame's locals, slowly, secrets included), and
    bounds what it prints: each value to ``FALLBACK_VALUE_LIMIT``
    characters, each traceback to ``FALLBACK_TRACEBACK_LINES`` lines of
    at most that many characters.  An application that wants more configures
    structlog.

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
                    bound_values,
                    structlog.dev.ConsoleRenderer(
                        colors=False, exception_formatter=plain_bounded_traceback
                    ),
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


# The fallback's bounds: the runtime's own never-raising, bounded texts.
def _shorten(text: str, limit: int = FALLBACK_VALUE_LIMIT) -> str:
    """Return *text*, cut to *limit* characters and marked as cut when it is longer."""
    return safe_str(text, limit)


def bounded_repr(value: object, limit: int = FALLBACK_VALUE_LIMIT) -> str:
    """Return a repr of *value* of at most about *limit* characters; never raise."""
    return safe_repr(value, limit)


def bounded_str(value: object, limit: int = FALLBACK_VALUE_LIMIT) -> str:
    """Return ``str(value)`` cut to about *limit* characters; never raise."""
    return safe_str(value, limit)


class _Shown:
    """A value the console renderer prints as the bounded text it holds."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text

    __str__ = __repr__


def bound_values(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: every value but ``exc_info`` bounded to a short text.

    Strings are cut to ``FALLBACK_VALUE_LIMIT`` characters; other values
    become bounded reprs, computed once, whatever their ``__repr__`` does.
    """
    for key, value in event_dict.items():
        if key == "exc_info":
            continue
        event_dict[key] = (
            _shorten(value) if isinstance(value, str) else _Shown(bounded_repr(value))
        )
    return event_dict


def plain_bounded_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    """A structlog exception formatter: the standard library's plain traceback, bounded.

    No local variables; each line cut to ``FALLBACK_VALUE_LIMIT``
    characters, and of more than ``FALLBACK_TRACEBACK_LINES`` lines only
    the first few and the innermost kept.
    """
    try:
        text = "".join(traceback.format_exception(*exc_info))
    except Exception as error:  # noqa: BLE001 -- the traceback module met something odd
        text = f"(the traceback cannot be formatted: {bounded_repr(error)})\n"
    lines = [_shorten(line) for line in text.splitlines()]
    if len(lines) > FALLBACK_TRACEBACK_LINES:
        head = FALLBACK_TRACEBACK_LINES // 5
        tail = FALLBACK_TRACEBACK_LINES - head
        omitted = len(lines) - head - tail
        lines = [*lines[:head], f"  ... {omitted} lines omitted ...", *lines[-tail:]]
    sio.write("\n" + "\n".join(lines))

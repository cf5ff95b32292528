"""The names of the attributes the spans carry, and how values become bounded attributes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Final

from twisted_event_dispatcher._safe import safe_repr, safe_str, type_name
from twisted_event_dispatcher.tracing._logger import plain_bounded_traceback

if TYPE_CHECKING:
    from twisted.python.failure import Failure

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_VALUE_LIMIT",
    "DETAIL_PREFIX",
    "PACKAGE_HINT",
    "attribute_value",
    "exception_attributes",
]

PACKAGE_HINT: Final = (
    "OpenTelemetry spans need the opentelemetry-api package: "
    "pip install 'twisted_event_dispatcher[otel]'"
)
"""How to get OpenTelemetry (the ``otel`` extra), for error messages."""

DEFAULT_VALUE_LIMIT: Final = 512
"""Characters of one attribute value (a detail's repr, an exception message) kept by default."""

STACKTRACE_FACTOR: Final = 16
"""An exception's stack trace may be this many times the value limit."""

RUN_ID: Final = "ted.run.id"
PARENT_RUN_ID: Final = "ted.run.parent_id"
RUN_STATUS: Final = "ted.run.status"
RUN_HANDLERS: Final = "ted.run.handlers"
RUN_FAILURES: Final = "ted.run.failures"
EVENT_TYPE: Final = "ted.event.type"
DETAIL_PREFIX: Final = "ted.detail."
ORIGIN_NODE: Final = "ted.origin.node"
ORIGIN_RUN_ID: Final = "ted.origin.run_id"
ORIGIN_HANDLER: Final = "ted.origin.handler_name"
PHASE: Final = "ted.phase"
PHASE_FAILED: Final = "ted.phase.failed"
HANDLER_ID: Final = "ted.handler.id"
HANDLER_NAME: Final = "ted.handler.name"
HANDLER_CALL: Final = "ted.handler.call"
HANDLER_STATUS: Final = "ted.handler.status"

ATTRIBUTES: Final = {
    RUN_ID: "run, phase, handler: the run's id (as in the structlog records and EventRun)",
    PARENT_RUN_ID: "run: the run whose handler fired it, here or in another process",
    EVENT_TYPE: "run: the qualified name of the event's type",
    DETAIL_PREFIX + "<keyword>": (
        "run: one per event detail: str, bool, int and float values as they are, "
        "others as their repr, cut to the value limit"
    ),
    ORIGIN_NODE: "run fired by another process: the node that fired it",
    ORIGIN_RUN_ID: "run fired by another process: the run that fired it there",
    ORIGIN_HANDLER: "run fired by another process: the handler that fired it there",
    RUN_STATUS: "run: completed, aborted, cancelled, dropped or rejected",
    RUN_HANDLERS: "run: how many handler calls it made",
    RUN_FAILURES: "run: how many of them failed or timed out",
    PHASE: "phase, handler: the phase's name",
    PHASE_FAILED: "phase: whether a handler of the phase failed or timed out",
    HANDLER_ID: "handler: the handler's id",
    HANDLER_NAME: "handler: the handler's qualified name",
    HANDLER_CALL: "handler: how many times the handler has been called, this call included",
    HANDLER_STATUS: "handler: succeeded, failed, timed_out or cancelled",
}
"""Every attribute the spans carry, with the spans that carry it and what it holds."""

_INT64: Final = 2**63


def attribute_value(value: object, limit: int) -> str | bool | int | float:
    """Return *value* as an attribute value: itself when OTLP can carry it, else its repr.

    Strings and reprs are cut to about *limit* characters; nothing raises,
    whatever the value's ``__repr__`` does.  Subclasses (an ``IntEnum``, a
    ``str`` subclass) are shown by their repr, as the structlog records show them.
    """
    kind = type(value)
    # The exact type first: isinstance() alone could call a property named __class__.
    if (kind is bool or kind is float) and isinstance(value, (bool, float)):
        return value
    if kind is int and isinstance(value, int) and -_INT64 <= value < _INT64:
        return value
    if kind is str and isinstance(value, str):
        return safe_str(value, limit)
    return safe_repr(value, limit)


def exception_name(error: BaseException) -> str:
    """Return the qualified name of *error*'s type, module first (as OpenTelemetry's SDK does).

    Never raises, and runs none of the type's code (a metaclass may override
    ``__module__`` or ``__qualname__``).
    """
    name = type_name(error)
    module = type.__dict__["__module__"].__get__(type(error), type)
    if type(module) is not str or module == "builtins":
        return name
    return f"{module}.{name}"


def exception_attributes(failure: Failure, limit: int) -> dict[str, str]:
    """Return the attributes of the ``exception`` span event that records *failure*.

    They follow OpenTelemetry's semantic conventions for exceptions
    (``exception.type``, ``exception.message``, ``exception.stacktrace``);
    the message is cut to about *limit* characters and the stack trace to
    :data:`STACKTRACE_FACTOR` times that, and neither raises, whatever the
    exception's ``__str__`` does.
    """
    error = failure.value
    assert error is not None  # noqa: S101 -- a Failure always holds its exception
    stream = io.StringIO()
    plain_bounded_traceback(stream, (type(error), error, failure.getTracebackObject()))
    return {
        "exception.type": exception_name(error),
        "exception.message": safe_str(error, limit),
        "exception.stacktrace": safe_str(
            stream.getvalue().lstrip("\n"), limit * STACKTRACE_FACTOR
        ),
    }

"""``configure_tracing``: the runtime's records as JSON lines, structlog's config untouched."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, TypeAlias, final

import structlog

from twisted_event_dispatcher.tracing._logger import LOGGER_NAME, application_logger, set_tracer

if TYPE_CHECKING:
    from types import TracebackType

    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["Tracebacks", "TracingHandle", "configure_tracing"]

Tracebacks: TypeAlias = Literal["dict", "text"]
"""How a failure's traceback goes into a record: structured frames, or formatted text."""


@final
class _LineSink:
    """The structlog logger at the end of the chain: writes each rendered record as a line."""

    __slots__ = ("_stream",)

    def __init__(self, stream: IO[str]) -> None:
        self._stream: Final = stream

    def msg(self, message: str) -> None:
        """Write *message* and a newline, and flush, so a crash loses nothing written."""
        self._stream.write(message + "\n")
        self._stream.flush()

    log = debug = info = warning = error = critical = exception = msg


def _forward(_logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Hand a copy of the record to the application's own structlog configuration."""
    record = dict(event_dict)
    event = record.pop("event", None)
    getattr(application_logger(), method_name)(event, **record)
    return event_dict


def _add_logger_name(
    _logger: WrappedLogger, _method_name: str, event_dict: EventDict
) -> EventDict:
    event_dict.setdefault("logger", LOGGER_NAME)
    return event_dict


@final
class TracingHandle:
    """What :func:`configure_tracing` returns: where records go, and how to stop.

    It is also a context manager that stops tracing on exit.

    .. versionadded:: 1.0
    """

    def __init__(self, logger: Any, stream: IO[str], path: Path | None, *, owned: bool) -> None:
        self._logger: Final = logger
        self._stream: Final = stream
        self._owned: Final = owned
        self.path: Final = path
        """The file records are appended to, or None when writing to a stream."""
        self._active = True

    @property
    def active(self) -> bool:
        """Whether the runtime's records still go to this handle's sink."""
        return self._active

    def stop(self) -> None:
        """Stop tracing, and close the file if :func:`configure_tracing` opened it.

        Runs created before the call keep the logger they were created with
        and keep writing to an unclosed stream; stop tracing once they have
        ended.  Stopping twice changes nothing.
        """
        if not self._active:
            return
        self._active = False
        from twisted_event_dispatcher.tracing import _logger

        if _logger._tracer is self._logger:
            set_tracer(None)
        if self._owned:
            self._stream.close()

    def __enter__(self) -> TracingHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def configure_tracing(
    sink: str | os.PathLike[str] | IO[str],
    *,
    level: int = logging.DEBUG,
    forward: bool = True,
    tracebacks: Tracebacks = "dict",
) -> TracingHandle:
    """Write every record the runtime logs as one JSON object per line to *sink*.

    The records follow :data:`~twisted_event_dispatcher.tracing.EVENTS`; each is
    stamped (``timestamp``, ISO 8601 in UTC) and levelled (``level``) by
    structlog's own processors and rendered by :class:`structlog.processors.JSONRenderer`.

    structlog's global configuration is neither read for nor changed by this:
    the runtime's records go through a logger of their own, and (with
    *forward*) are also handed, unrendered, to whatever the application's
    structlog configuration does with them, exactly as without tracing.

    Args:
        sink: A path, opened for appending (and closed by
            :meth:`TracingHandle.stop`), or an open text stream.
        level: The lowest level written; the default, ``logging.DEBUG``,
            writes the whole trace.  Above it, the runtime skips building the
            debug records altogether.
        forward: Also pass each record to the application's structlog
            configuration (or, when it has none, to the runtime's default of
            warnings and errors on standard error).
        tracebacks: ``"dict"`` for :func:`structlog.processors.dict_tracebacks`
            frames (without local variables: they could hold handlers), or
            ``"text"`` for :func:`structlog.processors.format_exc_info`.

    Returns:
        The handle that stops tracing.  Calling :func:`configure_tracing`
        again sends the records to the new sink instead.

    .. versionadded:: 1.0
    """
    if isinstance(sink, (str, os.PathLike)):
        path: Path | None = Path(sink)
        stream: IO[str] = Path(sink).open("a", encoding="utf-8")  # noqa: SIM115 -- the handle closes it
        owned = True
    else:
        path, stream, owned = None, sink, False
    exceptions: Processor = (
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        if tracebacks == "dict"
        else structlog.processors.format_exc_info
    )
    processors: list[Processor] = [
        *([_forward] if forward else []),
        structlog.processors.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exceptions,
        structlog.processors.JSONRenderer(sort_keys=False),
    ]
    wrapper: Any = structlog.make_filtering_bound_logger(level)
    logger = wrapper(_LineSink(stream), processors, {})
    set_tracer(logger)
    return TracingHandle(logger, stream, path, owned=owned)

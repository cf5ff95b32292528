"""Structured tracing of dispatcher runs through structlog.

Every record the runtime emits goes through the logger named
:data:`LOGGER_NAME` and follows the schema in :data:`EVENTS`: run records
carry ``run_id`` (and ``parent_run_id`` for a run fired from inside another
run's handler), so a trace rebuilds the causal tree of runs.  Records name
handlers; they never hold them.

Once the application has configured structlog, that configuration decides
where records go.  :func:`configure_tracing` additionally writes them as JSON
lines to a file or stream, without touching that configuration::

    from twisted_event_dispatcher.tracing import configure_tracing

    tracing = configure_tracing("trace.jsonl")
    ...  # fire events
    tracing.stop()

Records are buffered and written when their run tree ends (failures at
once); with the ``tracing`` extra they are encoded by orjson.  Tracing every
record costs a few times the untraced run, so it can stay on; ``sample_rate``
keeps a share of the runs that went well and every run that did not, and
``max_value_length`` bounds each value a record holds.

:func:`read_runs` reads such a trace back, streaming, as :class:`TracedRun`
trees, and :func:`format_tree` prints them (the ``tedtool trace``
command does both).

Into ``twisted.logger``
-----------------------
structlog's bundled :mod:`structlog.twisted` module targets the legacy
``twisted.python.log``, whose messages Twisted forwards to
``twisted.logger``'s global publisher.  To hand the records to
``twisted.logger`` directly, with their keys as event fields, finish the
application's processor chain with a small processor that emits them::

    import structlog
    from twisted.logger import Logger, LogLevel

    _twisted_log = Logger(namespace="twisted_event_dispatcher")

    def emit_to_twisted_logger(logger, method_name, event_dict):
        event_dict.pop("level", None)  # twisted.logger's log_level says it
        level = LogLevel.levelWithName("warn" if method_name == "warning" else method_name)
        _twisted_log.emit(level, "{event}", **event_dict)
        raise structlog.DropEvent

    structlog.configure(
        processors=[structlog.processors.format_exc_info, emit_to_twisted_logger],
    )

``examples/twisted_logger.py`` is that recipe as a runnable program.
"""

from __future__ import annotations

from twisted_event_dispatcher.tracing._configure import (
    DEFAULT_MAX_VALUE_LENGTH,
    Timestamps,
    Tracebacks,
    TracingHandle,
    configure_tracing,
)
from twisted_event_dispatcher.tracing._logger import LOGGER_NAME
from twisted_event_dispatcher.tracing._reader import (
    MalformedLine,
    TracedHandler,
    TracedPhase,
    TracedRun,
    TraceReader,
    follow_runs,
    join_runs,
    read_runs,
    timestamp_seconds,
)
from twisted_event_dispatcher.tracing._schema import COMMON_KEYS, EVENTS, Level, RecordSpec
from twisted_event_dispatcher.tracing._stats import (
    PERCENTILES,
    CallStats,
    TraceStats,
    nearest_rank,
)
from twisted_event_dispatcher.tracing._tree import (
    DEFAULT_VALUE_LENGTH,
    format_duration,
    format_offset,
    format_time,
    format_tree,
    printable,
)

__all__ = [
    "COMMON_KEYS",
    "DEFAULT_MAX_VALUE_LENGTH",
    "DEFAULT_VALUE_LENGTH",
    "EVENTS",
    "LOGGER_NAME",
    "PERCENTILES",
    "CallStats",
    "Level",
    "MalformedLine",
    "RecordSpec",
    "Timestamps",
    "TraceReader",
    "TraceStats",
    "Tracebacks",
    "TracedHandler",
    "TracedPhase",
    "TracedRun",
    "TracingHandle",
    "configure_tracing",
    "follow_runs",
    "format_duration",
    "format_offset",
    "format_time",
    "format_tree",
    "join_runs",
    "nearest_rank",
    "printable",
    "read_runs",
    "timestamp_seconds",
]

"""``configure_tracing``: the runtime's records as JSON lines, structlog's config untouched.

The tracing logger is lean on purpose: tracing every record of every run must
cost a few times the untraced run, not ten.  A record is one dict (the
call's own keyword arguments), stamped with the clock's seconds, encoded by
``orjson`` when it is installed (the ``tracing`` extra; the standard
library's :mod:`json` otherwise; a logger's bound values are encoded once,
and close each of its lines) and
appended to a write buffer that goes to the sink when a run tree ends, when
a record above debug level arrives, when it grows large, on
:meth:`TracingHandle.stop` and at interpreter exit.  With a ``sample_rate``
below 1, a run tree's records are held until it ends, and written only when
it was sampled or something in it went wrong.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import io
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast, final

import structlog

from twisted_event_dispatcher._safe import safe_repr, safe_str
from twisted_event_dispatcher.tracing._logger import (
    application_logger,
    is_debug_enabled,
    set_tracer,
)

if TYPE_CHECKING:
    from types import TracebackType

    from structlog.typing import Processor

__all__ = [
    "DEFAULT_MAX_VALUE_LENGTH",
    "Timestamps",
    "Tracebacks",
    "TracingHandle",
    "configure_tracing",
]

Tracebacks: TypeAlias = Literal["dict", "text"]
"""How a failure's traceback goes into a record: structured frames, or formatted text."""

Timestamps: TypeAlias = Literal["seconds", "iso"]
"""How a record's ``timestamp`` is written: seconds since the epoch, or ISO 8601 text in UTC.

.. versionadded:: 1.2
"""

DEFAULT_MAX_VALUE_LENGTH: Final = 1_000
"""How many characters of one text value (a repr, a message, a detail) a record keeps."""

_MIN_VALUE_LENGTH: Final = 16
_BUFFERED_RECORDS: Final = 512
"""Records the write buffer holds before it is written out, whatever else happens."""
_MAX_HELD: Final = 10_000
"""Records an unsampled run tree holds; past that the tree is written as if sampled."""
_END_EVENTS: Final = frozenset({"run_ended", "run_dropped", "run_rejected", "run_abandoned"})
"""Records after which a run writes no more (``run_abandoned``: a stop gave up on it)."""
_NESTED_DEPTH: Final = 6

_UTC: Final = dt.timezone.utc
_FIRST_SECOND: Final = dt.datetime(1, 1, 2, tzinfo=_UTC).timestamp()
_LAST_SECOND: Final = dt.datetime(9999, 12, 30, tzinfo=_UTC).timestamp()
"""The seconds a stamp can hold: what a datetime (and the trace reader) can too."""
_random: Callable[[], float] = random.random
"""Draws the sampling decision of each run tree (tests replace it)."""

try:  # the ``tracing`` extra
    import orjson
except ImportError:  # pragma: no cover -- the dev install has it; see test_json_fallback
    orjson = None  # type: ignore[assignment]
    _dumps: Any = None
    _OPTIONS = 0
else:
    _dumps = orjson.dumps
    """Called with positional arguments: a partial with keywords costs a third more."""
    _OPTIONS = orjson.OPT_UTC_Z


# -- encoding ---------------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def _cut_middle(text: str, limit: int) -> str:
    """Keep the start and the end of a text traceback: its innermost frames matter most."""
    head = limit // 2
    tail = limit - head
    return f"{text[:head]}… ({len(text) - limit} characters omitted) …{text[-tail:]}"


def _bounded(value: Any, limit: int, depth: int = 0) -> Any:
    """*value* with every string in it (and dict keys) cut to *limit* characters."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= limit else _cut(value, limit)
    if depth >= _NESTED_DEPTH:
        return value if kind in {int, float, bool, type(None)} else "…"
    if kind is dict:
        return {
            _bounded(key, limit, depth + 1) if type(key) is str else key: _bounded(
                item, limit, depth + 1
            )
            for key, item in value.items()
        }
    if kind is list or kind is tuple:
        return [_bounded(item, limit, depth + 1) for item in value]
    if isinstance(value, str):  # a subclass: as its plain text
        return _bounded(str.__str__(value), limit, depth)
    return value


def _bound_record(record: dict[str, Any], limit: int) -> dict[str, Any]:
    exception = record.get("exception")
    bounded = _bounded(record, limit)
    if type(exception) is str and len(exception) > limit:
        bounded["exception"] = _cut_middle(exception, limit)
    return bounded  # type: ignore[no-any-return]


def _utc_z(moment: dt.datetime) -> str:
    """*moment* (in UTC) as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes it."""
    return moment.isoformat().replace("+00:00", "Z")


@final
class _Encoder:
    """Turns a record into one JSON line: bytes with orjson, str without.

    :attr:`fast` is the hot path and may raise :exc:`TypeError` (orjson
    refuses lone surrogates, integers past 64 bits, keys that are no str)
    and leaves values uncut; :meth:`bounded` takes anything, and cuts.
    """

    def __init__(self, limit: int, *, use_orjson: bool) -> None:
        self.limit: Final = limit
        self._stdlib: Final = json.JSONEncoder(default=self._default)
        self.binary: Final = use_orjson and orjson is not None
        self.fast: Final[Callable[[dict[str, Any]], bytes | str]] = (
            functools.partial(orjson.dumps, default=self._default, option=orjson.OPT_UTC_Z)
            if self.binary
            else self._stdlib.encode
        )
        """Encode one record, as it is."""
        self.default: Final = self._default
        """What orjson calls for a value it does not know (the fast path calls orjson itself)."""

    def _default(self, value: object) -> str:
        if type(value) is dt.datetime:
            return _utc_z(value)
        return safe_repr(value, self.limit)

    def bounded(self, record: dict[str, Any]) -> bytes | str:
        """Encode *record* with every text value in it cut to the limit; never raise."""
        line = self._stdlib.encode(_bound_record(record, self.limit))
        return line.encode("utf-8") if self.binary else line


@final
class _Writer:
    """The write buffer in front of the sink; a failing sink never breaks a run."""

    def __init__(self, stream: IO[Any], encoder: _Encoder, *, binary_sink: bool) -> None:
        self.stream: Final = stream
        self.encoder: Final = encoder
        self._binary_sink: Final = binary_sink
        self.lines: Final[list[bytes | str]] = []
        """The encoded records not written yet (the same list all along)."""
        self.closed = False
        """Set once the handle has closed the sink: records are dropped."""
        self.immediate = False
        """Set once tracing has stopped: every record is written at once."""
        self._warned = False

    def add(self, record: dict[str, Any]) -> None:
        """Encode *record* into the buffer; write the buffer out when it is full."""
        encoder = self.encoder
        try:
            line = encoder.fast(record)
        except TypeError:
            line = encoder.bounded(record)
        else:
            # A line no longer than the limit holds no value longer than it:
            # only long lines are walked (and encoded again).
            if len(line) > encoder.limit:
                line = encoder.bounded(record)
        lines = self.lines
        lines.append(line)
        if len(lines) >= _BUFFERED_RECORDS or self.immediate:
            self.flush()

    def flush(self) -> None:
        """Write the buffer to the sink."""
        lines = self.lines
        if not lines:
            return
        # Taken and removed as one slice: a record another thread adds meanwhile
        # stays for the next write.
        count = len(lines)
        taken = lines[:count]
        del lines[:count]
        if self.encoder.binary:
            data: bytes | str = b"\n".join(taken) + b"\n"  # type: ignore[arg-type]
            if not self._binary_sink:
                data = data.decode("utf-8")  # type: ignore[union-attr]
        else:
            data = "\n".join(taken) + "\n"  # type: ignore[arg-type]
            if self._binary_sink:
                data = data.encode("utf-8")
        if self.closed:
            return
        try:
            self.stream.write(data)
            self.stream.flush()
        except Exception as error:  # noqa: BLE001 -- tracing must never break a run
            if not self._warned:
                self._warned = True
                print(  # noqa: T201 -- the trace itself is what cannot be written
                    f"twisted_event_dispatcher: cannot write the trace: {safe_repr(error, 200)}",
                    file=sys.stderr,
                )


@final
class _Tree:
    """One top-level run and the runs it fired: sampled (or kept) together."""

    __slots__ = ("held", "open")

    def __init__(self, *, sampled: bool) -> None:
        self.open = 0
        self.held: list[dict[str, Any]] | None = None if sampled else []
        """Its records so far while it is neither sampled nor kept; None once it writes."""


_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


@final
class _Tracer:
    """The state one :func:`configure_tracing` call shares between its loggers."""

    def __init__(
        self,
        writer: _Writer,
        level: int,
        exceptions: Processor,
        sample_rate: float,
        stamp: Callable[[], float | dt.datetime],
        *,
        forward: bool,
    ) -> None:
        self.writer: Final = writer
        self.stamp: Final = stamp
        """Now, in seconds since the epoch or as an aware datetime in UTC (written in ISO 8601)."""
        self.level: Final = level
        self.exceptions: Final = exceptions
        self.sample_rate: Final = sample_rate
        self.forward: Final = forward
        self.trees: dict[str, _Tree] = {}
        """The run tree of every run that has not ended, by run id."""
        self.stopped = False

    def tree_for(self, context: dict[str, Any]) -> _Tree | None:
        """The tree a newly bound run belongs to (a new one for a top-level run)."""
        if self.level > logging.DEBUG:
            return None  # without debug records, a run's end is not seen: nothing is held
        run_id = context["run_id"]
        parent_run_id = context.get("parent_run_id")
        tree = None
        if parent_run_id is not None and "origin_node" not in context:
            tree = self.trees.get(parent_run_id)
        if tree is None:
            rate = self.sample_rate
            tree = _Tree(sampled=rate >= 1 or _random() < rate)
        tree.open += 1
        self.trees[run_id] = tree
        return tree

    def ended(self, run_id: str, tree: _Tree) -> None:
        """A run of *tree* wrote its end record: at the tree's end, write what it kept."""
        if self.trees.pop(run_id, None) is not tree:
            return  # a second end record
        tree.open -= 1
        if tree.open:
            return
        tree.held = None  # neither sampled nor kept: dropped
        self.writer.flush()

    def written(self, run_id: str, event: str, tree: _Tree) -> None:
        """A record of sampled *tree* went into the buffer, which is full, or it ended a run."""
        if event in _END_EVENTS:
            self.ended(run_id, tree)
        writer = self.writer
        if len(writer.lines) >= _BUFFERED_RECORDS or writer.immediate:
            writer.flush()

    def debug_record(self, tree: _Tree | None, event: str, record: dict[str, Any]) -> None:
        """Write a debug record of no run, or hold one of an unsampled *tree*."""
        writer = self.writer
        if tree is None:
            writer.add(record)
            if not self.trees:
                writer.flush()  # no run is in flight to end and write it
            return
        held = tree.held
        assert held is not None  # noqa: S101 -- the caller checked
        if (event == "run_ended" and record.get("status") != "completed") or len(
            held
        ) >= _MAX_HELD:
            self.keep(tree)
            self.writer.add(record)
        else:
            held.append(record)
        if event in _END_EVENTS:
            self.ended(record["run_id"], tree)

    def keep(self, tree: _Tree) -> None:
        """Write what *tree* held so far, and its records from now on."""
        held = tree.held
        tree.held = None
        if held:
            add = self.writer.add
            for record in held:
                add(record)

    def stop(self) -> None:
        """Write the records unfinished trees still hold, and the buffer."""
        if self.stopped:
            return
        self.stopped = True
        for tree in {id(tree): tree for tree in self.trees.values()}.values():
            self.keep(tree)
        self.trees.clear()
        self.writer.immediate = True
        self.writer.flush()


@final
class _TraceLogger:
    """The bound logger of the runtime while tracing: lean, and structlog-like.

    It offers what the runtime calls: ``bind``, ``is_enabled_for`` and one
    method per level.  Each record goes first, unrendered, to the
    application's logger (with *forward*), then to the trace.
    """

    __slots__ = (
        "_app",
        "_app_debug",
        "_bounded",
        "_context",
        "_debug",
        "_default",
        "_fast",
        "_fast_tree",
        "_forward_each",
        "_forwards",
        "_limit",
        "_lines",
        "_stamp",
        "_tail",
        "_tracer",
        "_tree",
    )

    def __init__(
        self, tracer: _Tracer, context: dict[str, Any], tree: _Tree | None, app: Any
    ) -> None:
        self._tracer: Final = tracer
        self._context: Final = context
        self._tree: Final = tree
        self._app: Final = app
        """The application's logger a run's records are forwarded to (bound once per run)."""
        self._app_debug: Final = app is not None and is_debug_enabled(app)
        self._forward_each: Final = app is None and tracer.forward
        """Forward by asking for the application's logger at each record (outside runs)."""
        self._debug: Final = tracer.level <= logging.DEBUG
        writer = tracer.writer
        encoder = writer.encoder
        self._lines: Final = writer.lines
        self._fast: Final = encoder.fast
        self._bounded: Final = encoder.bounded
        self._limit: Final = encoder.limit
        self._stamp: Final = tracer.stamp
        self._default: Final = encoder.default
        self._tail: Final = self._encoded_tail(context) if encoder.binary else None
        self._fast_tree: Final = tree if self._tail is not None else None
        """The tree of a logger whose records may take the fast path (None: they never do)."""
        self._forwards: Final = self._app_debug or self._forward_each
        """What closes every debug record of this logger: the bound values, the level."""

    def _encoded_tail(self, context: dict[str, Any]) -> bytes | None:
        """``,"key":value,...,"level":"debug"}``; None if the fast path cannot use it."""
        try:
            encoded = self._fast(context)
        except TypeError:
            return None
        if not isinstance(encoded, bytes) or len(encoded) > self._limit:
            return None  # a long bound value: the general path bounds it
        if context:
            return b"," + encoded[1:-1] + b',"level":"debug"}'
        return b',"level":"debug"}'

    def bind(self, **new_values: Any) -> _TraceLogger:
        """Return a logger whose records also carry *new_values*.

        Binding a ``run_id`` starts a run: it joins the tree of its parent
        run, or starts a tree of its own (and draws whether it is sampled).
        """
        tracer = self._tracer
        context = {**self._context, **new_values}
        tree = self._tree
        if "run_id" in new_values:
            tree = tracer.tree_for(context)
        app = application_logger() if tracer.forward and "run_id" in context else None
        return _TraceLogger(tracer, context, tree, app)

    def is_enabled_for(self, level: int) -> bool:
        """Whether a record at *level* is written."""
        return level >= self._tracer.level

    def debug(self, event: str, **fields: Any) -> None:
        """Write a debug record (the hot path: one per handler call)."""
        if not self._debug:
            return
        if self._forwards:
            if self._app_debug:
                self._app.debug(event, **self._context, **fields)
            elif self._forward_each:
                self._forward("debug", event, fields)
        tree = self._fast_tree
        if tree is None or tree.held is not None:
            self._debug_record(self._tree, event, fields)
            return
        # The common case: a record of a sampled run, into the buffer.  The
        # keyword arguments' dict is this call's own: it takes the event and the
        # stamp, and is encoded; the bound values and the level, encoded once per
        # logger, close the line (the keys come out in another order than the
        # general path's: fields, event, timestamp, bound values, level).
        #
        # Fields are not checked for the bound keys or ``level`` (a check costs
        # a twentieth of a record): the runtime's records never carry them (see
        # EVENTS; test_no_event_takes_a_bound_key).  Were one to, its line would
        # hold the key twice, and JSON readers (json, orjson, read_runs) take the
        # last: the bound value, as the general path writes it.
        fields["event"] = event
        fields["timestamp"] = self._stamp()
        try:
            line = _dumps(fields, self._default, _OPTIONS)[:-1] + self._tail
        except TypeError:
            line = None
        # A line no longer than the limit holds no value longer than it.
        if line is None or len(line) > self._limit:
            del fields["event"], fields["timestamp"]
            self._debug_record(tree, event, fields)
            return
        lines = self._lines
        lines.append(line)
        if len(lines) >= _BUFFERED_RECORDS or event in _END_EVENTS or self._tracer.stopped:
            self._tracer.written(self._context["run_id"], event, tree)

    def _debug_record(self, tree: _Tree | None, event: str, fields: dict[str, Any]) -> None:
        """Write a debug record the general way: a dict, encoded (and bounded) as a whole."""
        # The keyword arguments' dict is the call's own: it becomes the record
        # (cheaper than a copy; a bound key wins over a keyword of the same name).
        record = fields
        record["event"] = event
        record.update(self._context)
        record["level"] = "debug"
        record["timestamp"] = self._stamp()
        if tree is None or tree.held is not None:
            self._tracer.debug_record(tree, event, record)
            return
        try:
            line = self._fast(record)
        except TypeError:
            line = self._bounded(record)
        else:
            # A line no longer than the limit holds no value longer than it:
            # only long lines are walked (and encoded again).
            if len(line) > self._limit:
                line = self._bounded(record)
        lines = self._lines
        lines.append(line)
        if len(lines) >= _BUFFERED_RECORDS or event in _END_EVENTS or self._tracer.stopped:
            self._tracer.written(self._context["run_id"], event, tree)

    def _forward(self, method_name: str, event: str, fields: dict[str, Any]) -> None:
        app = self._app if self._app is not None else application_logger()
        getattr(app, method_name)(event, **self._context, **fields)

    def _log(self, method_name: str, event: str, fields: dict[str, Any]) -> None:
        """Write a record above debug level: rare, so it may take its time."""
        tracer = self._tracer
        level = _LEVELS.get(method_name, logging.ERROR)
        if method_name == "exception":
            fields.setdefault("exc_info", True)
            level = logging.ERROR
        if level < tracer.level:
            return
        if tracer.forward:
            self._forward(method_name, event, fields)
        record = {"event": event, **self._context, **fields}
        record["level"] = "error" if method_name == "exception" else method_name
        record["timestamp"] = tracer.stamp()
        if "exc_info" in record:
            try:
                record = cast("dict[str, Any]", tracer.exceptions(None, method_name, record))
            except Exception:  # noqa: BLE001 -- the record is written without its traceback
                record.pop("exc_info", None)
        tree = self._tree
        if tree is not None and tree.held is not None:
            tracer.keep(tree)
        tracer.writer.add(record)
        tracer.writer.flush()  # what went wrong is never left in a buffer
        if tree is not None and event in _END_EVENTS:
            tracer.ended(self._context["run_id"], tree)

    def info(self, event: str, **fields: Any) -> None:
        """Write an info record."""
        self._log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Write a warning record."""
        self._log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Write an error record (with ``exc_info``, its traceback)."""
        self._log("error", event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        """Write a critical record."""
        self._log("critical", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """Write an error record with the exception being handled."""
        self._log("exception", event, fields)

    warn = warning
    msg = info


@final
class TracingHandle:
    """What :func:`configure_tracing` returns: where records go, and how to stop.

    It is also a context manager that stops tracing on exit.

    .. versionadded:: 1.0
    """

    def __init__(self, logger: Any, tracer: _Tracer, path: Path | None, *, owned: bool) -> None:
        self._logger: Final = logger
        self._tracer: Final = tracer
        self._owned: Final = owned
        self.path: Final = path
        """The file records are appended to, or None when writing to a stream."""
        self._active = True
        atexit.register(self._at_exit)

    @property
    def active(self) -> bool:
        """Whether the runtime's records still go to this handle's sink."""
        return self._active

    def flush(self) -> None:
        """Write the buffered records to the sink now.

        Records are written when their run tree ends, when a record above
        debug level arrives, and every few hundred records; a run still in
        flight (or, when sampling, a run tree not ended) keeps the rest
        until then.  At interpreter exit, tracing writes both, as
        :meth:`stop` does.

        .. versionadded:: 1.2
        """
        self._tracer.writer.flush()

    def _at_exit(self) -> None:
        # As stop() does, short of closing: unfinished run trees held back for
        # sampling are written too (a run that never ends is worth seeing).
        self._tracer.stop()

    def stop(self) -> None:
        """Stop tracing: write what is buffered, and close the file if it was opened here.

        Records that unfinished run trees hold back for sampling are written
        too (a run that never ends is worth seeing).  Runs created before
        the call keep the logger they were created with: with a stream they
        keep writing to it, each record at once; with a file, which is closed,
        their records are dropped.  Stopping twice changes nothing.
        """
        if not self._active:
            return
        self._active = False
        atexit.unregister(self._at_exit)
        from twisted_event_dispatcher.tracing import _logger

        if _logger._tracer is self._logger:
            set_tracer(None)
        tracer = self._tracer
        tracer.stop()
        if self._owned:
            tracer.writer.closed = True
            tracer.writer.stream.close()

    def __enter__(self) -> TracingHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _check_rate(value: object) -> float:
    # NaN fails the comparison too.
    if type(value) not in {int, float} or not 0 <= value <= 1:  # type: ignore[operator]
        raise ValueError(f"sample_rate must be a number from 0 to 1; got {safe_repr(value)}")
    return float(value)  # type: ignore[arg-type]


def _check_length(value: object) -> None:
    if type(value) is not int or value < _MIN_VALUE_LENGTH:
        raise ValueError(
            f"max_value_length must be a whole number >= {_MIN_VALUE_LENGTH}; "
            f"got {safe_repr(value)}"
        )


def _check_level(value: object) -> None:
    if type(value) is not int:
        raise ValueError(
            f"level must be a logging level number (such as logging.INFO); got {safe_repr(value)}"
        )


def _check_tracebacks(value: object) -> None:
    if type(value) is not str or value not in {"dict", "text"}:
        raise ValueError(f"tracebacks must be 'dict' or 'text'; got {safe_repr(value)}")


def _check_sink(value: object) -> None:
    if isinstance(value, (io.RawIOBase, io.BufferedIOBase)):
        raise TypeError(
            f"sink must be a path or a text stream; got the binary stream {safe_repr(value)}: "
            "open it in text mode, or wrap it in io.TextIOWrapper"
        )


def _stamper(clock: Callable[[], float]) -> Callable[[], dt.datetime]:
    """Stamp records with *clock*'s time; checked now, so a clock that cannot is refused."""

    def stamp() -> dt.datetime:
        return dt.datetime.fromtimestamp(clock(), _UTC)

    try:
        stamp()
    except Exception as error:
        raise ValueError(
            f"clock must return seconds since the epoch; calling {safe_repr(clock)} "
            f"to stamp a record failed: {type(error).__name__}: {safe_str(error)}"
        ) from error

    def guarded() -> dt.datetime:
        # A clock that fails later stamps with the wall clock: tracing never breaks a run.
        try:
            return stamp()
        except Exception:  # noqa: BLE001
            return dt.datetime.now(_UTC)

    return guarded


def _seconds_stamper(clock: Callable[[], float]) -> Callable[[], float]:
    """Stamp records with *clock*'s seconds; checked now, as :func:`_stamper` checks."""
    _stamper(clock)

    def guarded() -> float:
        # A clock that fails later stamps with the wall clock: tracing never breaks a run.
        try:
            seconds = clock()
        except Exception:  # noqa: BLE001
            return time.time()
        kind = type(seconds)
        if (kind is float or kind is int) and _FIRST_SECOND <= seconds <= _LAST_SECOND:
            return seconds
        return time.time()  # NaN, out of range, no number

    return guarded


def configure_tracing(
    sink: str | os.PathLike[str] | IO[str],
    *,
    level: int = logging.DEBUG,
    forward: bool = True,
    tracebacks: Tracebacks = "dict",
    sample_rate: float = 1.0,
    max_value_length: int = DEFAULT_MAX_VALUE_LENGTH,
    clock: Callable[[], float] | None = None,
    timestamps: Timestamps = "seconds",
) -> TracingHandle:
    """Write every record the runtime logs as one JSON object per line to *sink*.

    The records follow :data:`~twisted_event_dispatcher.tracing.EVENTS`; each is
    stamped (``timestamp``, in seconds since the epoch, or with
    ``timestamps="iso"`` ISO 8601 in UTC as structlog's ``TimeStamper`` writes
    it) and levelled (``level``), and encoded by ``orjson`` when it is
    installed (``pip install twisted_event_dispatcher[tracing]``), by the
    standard library's :mod:`json` otherwise.

    Records are buffered, and written when the run tree they belong to ends
    (a top-level run and every run it fired), at once when they are above
    debug level (a failure is never left in a buffer), every few hundred
    records, on :meth:`TracingHandle.stop` and at interpreter exit.  A
    process killed in the middle of a run loses that run's debug records.

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
            warnings and errors on standard error).  Which logger a run's
            records go to, and whether it wants debug records, is decided
            once, when the run is fired.
        tracebacks: ``"dict"`` for :func:`structlog.processors.dict_tracebacks`
            frames (without local variables: they could hold handlers), or
            ``"text"`` for :func:`structlog.processors.format_exc_info`.
        sample_rate: The share of run trees written, from 0 to 1.  Each
            top-level run draws once; the runs it fires go with it.  A tree is
            written whole, sampled or not, when any of its records is above
            debug level (a handler failed or timed out, a run was aborted,
            rejected, dropped or cancelled) or one of its runs ends other than
            ``completed``: its records are held until it ends, so that
            decision can be made.  Unfinished trees are written on stop and at
            interpreter exit.
        max_value_length: The most characters of one text value a record
            keeps (a repr, an exception message, a detail, a traceback); a
            longer one is cut and ends with ``… (N more characters)``.  A
            text traceback keeps its start and end.
        clock: Returns the time records are stamped with, in seconds since
            the epoch; by default the wall clock.  A program that runs on a
            :class:`~twisted.internet.task.Clock` can stamp its records with
            that clock's time (plus a starting point).
        timestamps: ``"seconds"`` writes each record's ``timestamp`` as the
            clock gives it, a number of seconds since the epoch (cheapest:
            building and formatting a datetime costs a tenth of a record);
            ``"iso"`` writes ISO 8601 text in UTC
            (``2026-03-01T12:00:00.250000Z``), as before version 1.2.
            :func:`read_runs`, ``tedtool`` and :func:`timestamp_seconds`
            read both.

    Returns:
        The handle that stops tracing.  Calling :func:`configure_tracing`
        again sends the records to the new sink instead.

    Raises:
        TypeError: *sink* is a binary stream.
        ValueError: *clock* cannot stamp a record (it raised, or its time is out of
            range), *sample_rate* is not between 0 and 1,
            *max_value_length* is below 16, *level* is no int,
            *tracebacks* is neither ``"dict"`` nor ``"text"``, or
            *timestamps* is neither ``"seconds"`` nor ``"iso"``.

    .. versionadded:: 1.0
    .. versionchanged:: 1.2
       Records are buffered; *sample_rate*, *max_value_length*, *clock* and
       *timestamps*; orjson when installed.  Timestamps are seconds since the
       epoch unless ``timestamps="iso"``.
    """
    rate = _check_rate(sample_rate)
    _check_length(max_value_length)
    _check_level(level)
    _check_tracebacks(tracebacks)
    _check_sink(sink)
    if timestamps not in {"seconds", "iso"}:
        raise ValueError(f'timestamps must be "seconds" or "iso"; got {safe_repr(timestamps)}')
    encoder = _Encoder(max_value_length, use_orjson=True)
    if isinstance(sink, (str, os.PathLike)):
        path: Path | None = Path(sink)
        stream: IO[Any] = Path(sink).open("ab")  # noqa: SIM115 -- the handle closes it
        binary_sink, owned = True, True
    else:
        path, stream, binary_sink, owned = None, sink, False, False
    exceptions: Processor = (
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        if tracebacks == "dict"
        else structlog.processors.format_exc_info
    )
    writer = _Writer(stream, encoder, binary_sink=binary_sink)
    stamp: Callable[[], float | dt.datetime]
    if timestamps == "iso":
        stamp = functools.partial(dt.datetime.now, _UTC) if clock is None else _stamper(clock)
    else:
        # The clock's float: nothing to build, and a few bytes to encode.
        stamp = time.time if clock is None else _seconds_stamper(clock)
    tracer = _Tracer(writer, level, exceptions, rate, stamp, forward=forward)
    logger = _TraceLogger(tracer, {}, None, None)
    set_tracer(logger)
    return TracingHandle(logger, tracer, path, owned=owned)

"""Reading a JSON-lines trace back, streaming, as trees of runs, phases and handlers."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import reprlib
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, final

import attrs

from twisted_event_dispatcher.tracing._logger import bounded_repr, bounded_str

if TYPE_CHECKING:
    from twisted_event_dispatcher.runtime._records import EventRun

__all__ = [
    "MalformedLine",
    "TraceReader",
    "TracedHandler",
    "TracedPhase",
    "TracedRun",
    "follow_runs",
    "join_runs",
    "read_runs",
    "timestamp_seconds",
]


@attrs.define(eq=False)
class TracedHandler:
    """One handler call of a traced run.

    .. versionadded:: 1.0
    """

    handler_id: int | None
    """The handler's registration id."""
    handler_name: str
    """The handler's qualified name."""
    phase: str
    """The phase it was called in."""
    status: str = "pending"
    """``succeeded``, ``failed``, ``timed_out``, ``cancelled``, or ``pending`` (never settled)."""
    duration: float | None = None
    """Seconds from the call to the settlement; None while pending."""
    exception_type: str | None = None
    """The exception's class name, for a failure or timeout."""
    exception_message: str | None = None
    """The exception's message, for a failure or timeout."""
    children: list[TracedRun] = attrs.field(factory=list)
    """The runs this call fired (child runs), in the order they were created."""
    start_time: float | None = None
    """When it was called, in seconds since the epoch, from the ``timestamp`` of its
    ``handler_called`` record (without one: its settlement's time less its duration);
    None when the trace does not say.

    .. versionadded:: 1.1
    """
    end_time: float | None = None
    """When it settled (its ``handler_settled`` record's ``timestamp``), in seconds
    since the epoch; None while pending or when the trace does not say.

    .. versionadded:: 1.1
    """


@attrs.define(eq=False)
class TracedPhase:
    """One phase a traced run entered.

    .. versionadded:: 1.0
    """

    name: str
    """The phase's name."""
    handlers: list[TracedHandler] = attrs.field(factory=list)
    """Its handler calls, in call order."""
    failed: bool | None = None
    """Whether a handler failed; None when the trace ends before the phase completed."""
    start_time: float | None = None
    """When the run entered it, in seconds since the epoch, from the ``timestamp`` of its
    ``phase_entered`` record (or of the first record naming it); None when the trace
    does not say.

    .. versionadded:: 1.1
    """


@attrs.define(eq=False)
class TracedRun:
    """One run as a trace (or an :class:`~twisted_event_dispatcher.EventRun`) tells it.

    .. versionadded:: 1.0
    """

    run_id: str
    """The run's id."""
    parent_run_id: str | None = None
    """The run whose handler fired this one; None for a top-level run."""
    parent_handler_id: int | None = None
    """The id of the handler that fired this run."""
    parent_handler_name: str | None = None
    """The name of the handler that fired this run."""
    event_type: str | None = None
    """The class name of the fired event."""
    details: dict[str, Any] = attrs.field(factory=dict)
    """The event details (their reprs, when read from a trace)."""
    status: str = "unfinished"
    """``completed``, ``aborted``, ``cancelled``, ``dropped``, ``rejected`` or ``unfinished``."""
    duration: float | None = None
    """Seconds from the run's start to its end, when the trace says."""
    phases: list[TracedPhase] = attrs.field(factory=list)
    """The phases it entered, in order."""
    orphans: list[TracedRun] = attrs.field(factory=list)
    """Child runs the trace does not attribute to one of this run's handler calls."""
    start_time: float | None = None
    """When the run started, in seconds since the epoch: the ``timestamp`` of its
    ``run_started`` record, or of its first record when it has none (a run dropped
    unstarted); None when the trace has no timestamps.

    .. versionadded:: 1.1
    """
    end_time: float | None = None
    """When the run ended (the ``timestamp`` of its ``run_ended``, ``run_dropped`` or
    ``run_rejected`` record), in seconds since the epoch; None while unfinished or when
    the trace has no timestamps.

    .. versionadded:: 1.1
    """

    @property
    def handlers(self) -> list[TracedHandler]:
        """Every handler call, phase by phase."""
        return [handler for phase in self.phases for handler in phase.handlers]

    @property
    def children(self) -> list[TracedRun]:
        """Every child run, under its handler call or not."""
        nested = [child for handler in self.handlers for child in handler.children]
        return nested + self.orphans

    def walk(self) -> Iterator[TracedRun]:
        """Yield this run, then its descendants, depth first.

        The walk is iterative: a chain of child runs of any depth is walked
        without recursion.
        """
        stack = [self]
        while stack:
            run = stack.pop()
            yield run
            stack.extend(reversed(run.children))

    @classmethod
    def from_event_run(
        cls, run: EventRun, children: Iterable[EventRun] = (), phases: Iterable[str] = ()
    ) -> TracedRun:
        """Build the tree of an :class:`~twisted_event_dispatcher.EventRun` and its children.

        Args:
            run: The run.
            children: Runs whose ``parent_run_id`` leads (directly or not) to
                *run*; an EventRun does not say which handler fired it, so
                they are attached to the run, not to a handler call.
            phases: The dispatcher's phases, to show the phases no handler
                ran in; by default, the phases its outcomes name.
        """
        by_parent: dict[str | None, list[EventRun]] = {}
        for child in children:
            by_parent.setdefault(child.parent_run_id, []).append(child)
        phase_names = tuple(phases)
        root = cls._one_from_event_run(run, phase_names)
        # Iterative, so a chain of any depth converts; each run id converts once, so
        # runs whose parent ids form a cycle cannot loop.
        seen = {run.run_id}
        stack = [(root, run)]
        while stack:
            traced, source = stack.pop()
            for child in by_parent.get(source.run_id, []):
                if child.run_id in seen:
                    continue
                seen.add(child.run_id)
                converted = cls._one_from_event_run(child, phase_names)
                traced.orphans.append(converted)
                stack.append((converted, child))
        return root

    @classmethod
    def _one_from_event_run(cls, run: EventRun, phases: tuple[str, ...]) -> TracedRun:
        traced = cls(
            run.run_id,
            parent_run_id=run.parent_run_id,
            event_type=type(run.event).__qualname__,
            details={key: bounded_repr(value) for key, value in run.details.items()},
            status=run.status,
        )
        named: dict[str, TracedPhase] = {name: TracedPhase(name) for name in phases}
        for outcome in run.outcomes:
            phase = named.get(outcome.phase)
            if phase is None:
                phase = named[outcome.phase] = TracedPhase(outcome.phase)
            failure = outcome.failure
            phase.handlers.append(
                TracedHandler(
                    outcome.handler_id,
                    outcome.handler_name,
                    outcome.phase,
                    outcome.status,
                    outcome.duration,
                    exception_type=None if failure is None else type(failure.value).__name__,
                    exception_message=None if failure is None else bounded_str(failure.value),
                )
            )
        for phase in named.values():
            phase.failed = any(h.status in {"failed", "timed_out"} for h in phase.handlers)
        traced.phases = list(named.values())
        return traced


@attrs.frozen
class MalformedLine:
    """A line of a trace that is not a JSON record; reading goes on past it.

    .. versionadded:: 1.0
    """

    line_number: int
    """The line's number, counting from 1."""
    reason: str
    """What is wrong with it."""
    source: str | None = None
    """The file it was read from, as given to the reader; None for a stream.

    .. versionadded:: 1.1
    """

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.reason}"


_TIMED: Final = frozenset(
    {
        "run_started",
        "phase_entered",
        "handler_called",
        "handler_settled",
        "run_ended",
        "run_dropped",
        "run_rejected",
    }
)
"""The records whose time the reader keeps (besides a run's first record)."""
_END_STATUS: Final[Mapping[str, str | None]] = {
    "run_ended": None,  # its status key says
    "run_dropped": "dropped",
    "run_rejected": "rejected",
}


@final
class TraceReader:
    """Builds run trees from trace records, handing each tree out once it is complete.

    A run is complete once it and every run it fired have ended; only runs
    still open are held, so memory is bounded by the runs in flight, not by
    the length of the trace.

    .. versionadded:: 1.0
    """

    def __init__(self) -> None:
        self._open: dict[str, TracedRun] = {}
        self._root_of: dict[str, str] = {}
        self._unended: dict[str, int] = {}
        """Per open root: how many runs of its tree have not ended yet."""
        self._ended_ids: set[str] = set()
        """The open runs that have ended (their trees have not)."""
        self.records = 0
        """How many records have been fed."""

    def feed(self, record: Mapping[str, Any]) -> list[TracedRun]:
        """Take one record; return the top-level runs it completed (usually none)."""
        self.records += 1
        run_id = record.get("run_id")
        if not isinstance(run_id, str):
            return []  # lifecycle and registry records belong to no run
        event = record.get("event")
        run, when = self._run_and_time(run_id, event, record)
        if event == "run_created":
            self._created(run, record)
        elif event == "run_started" and when is not None:
            run.start_time = when
        elif event == "phase_entered":
            run.phases.append(TracedPhase(_text(record.get("phase")), start_time=when))
        elif event == "handler_called":
            self._add_handler(
                run,
                self._phase(run, record, when),
                TracedHandler(
                    _int_or_none(record.get("handler_id")),
                    _text(record.get("handler_name")),
                    _text(record.get("phase")),
                    start_time=when,
                ),
            )
        elif event == "handler_settled":
            self._settled(run, record, when)
        elif event == "phase_completed":
            self._phase(run, record, when).failed = bool(record.get("failed"))
        elif event in _END_STATUS:
            return self._ended(run, record, _END_STATUS[str(event)], when)
        return []

    def finish(self) -> list[TracedRun]:
        """Return the top-level runs the trace never completed (status ``unfinished``)."""
        roots = [self._open[root] for root in self._unended if root in self._open]
        self._open.clear()
        self._root_of.clear()
        self._unended.clear()
        self._ended_ids.clear()
        return roots

    def _run_and_time(
        self, run_id: str, event: object, record: Mapping[str, Any]
    ) -> tuple[TracedRun, float | None]:
        """The record's run (created by its first record) and, when it tells one, its time."""
        run = self._open.get(run_id)
        if run is not None:  # parsing timestamps costs: only the records that keep one
            return run, timestamp_seconds(record.get("timestamp")) if event in _TIMED else None
        when = timestamp_seconds(record.get("timestamp"))
        return self._create(run_id, record, when), when

    @staticmethod
    def _created(run: TracedRun, record: Mapping[str, Any]) -> None:
        run.event_type = _str_or_none(record.get("event_type"))
        details = record.get("details")
        run.details = (
            {_text(key): _text(value) for key, value in details.items()}
            if isinstance(details, Mapping)
            else {}
        )

    def _create(self, run_id: str, record: Mapping[str, Any], when: float | None) -> TracedRun:
        parent_run_id = _str_or_none(record.get("parent_run_id"))
        run = TracedRun(
            run_id,
            parent_run_id=parent_run_id,
            parent_handler_id=_int_or_none(record.get("parent_handler_id")),
            parent_handler_name=_str_or_none(record.get("parent_handler_name")),
            start_time=when,
        )
        # Only a run already open can be the parent, so the runs always form trees: a
        # record naming its own run (or a run not seen yet) as parent starts a new tree.
        parent = None if parent_run_id is None else self._open.get(parent_run_id)
        self._open[run_id] = run
        if parent is None:
            root = run_id
        else:
            root = self._root_of[parent.run_id]
            self._attach(parent, run)
        self._root_of[run_id] = root
        self._unended[root] = self._unended.get(root, 0) + 1
        return run

    @staticmethod
    def _attach(parent: TracedRun, child: TracedRun) -> None:
        if child.parent_handler_id is not None:
            for handler in reversed(parent.handlers):
                if handler.handler_id == child.parent_handler_id:
                    handler.children.append(child)
                    return
        parent.orphans.append(child)

    def _ended(
        self, run: TracedRun, record: Mapping[str, Any], status: str | None, when: float | None
    ) -> list[TracedRun]:
        if status is None:  # run_ended: the record says
            run.duration = _float_or_none(record.get("duration"))
            status = _text(record.get("status"))
        if run.run_id in self._ended_ids:
            return []  # a second end record: keep the first
        self._ended_ids.add(run.run_id)
        run.status = status
        run.end_time = when
        root = self._root_of[run.run_id]
        self._unended[root] -= 1
        if self._unended[root]:
            return []
        del self._unended[root]
        tree = self._open[root]
        for member in tree.walk():
            self._open.pop(member.run_id, None)
            self._root_of.pop(member.run_id, None)
            self._ended_ids.discard(member.run_id)
        return [tree]

    @staticmethod
    def _phase(run: TracedRun, record: Mapping[str, Any], when: float | None) -> TracedPhase:
        name = _text(record.get("phase"))
        for phase in reversed(run.phases):
            if phase.name == name:
                return phase
        # A trace written above debug level has no phase_entered.
        phase = TracedPhase(name, start_time=when)
        run.phases.append(phase)
        return phase

    def _settled(self, run: TracedRun, record: Mapping[str, Any], when: float | None) -> None:
        handler = self._handler(run, record, when)
        handler.status = _text(record.get("status"))
        handler.duration = _float_or_none(record.get("duration"))
        handler.exception_type = _str_or_none(record.get("exception_type"))
        handler.exception_message = _str_or_none(record.get("exception_message"))
        handler.end_time = when
        if handler.start_time is None and when is not None and handler.duration is not None:
            start = when - handler.duration  # a trace without handler_called records
            handler.start_time = start if _EARLIEST <= start <= _LATEST else None

    def _handler(
        self, run: TracedRun, record: Mapping[str, Any], when: float | None
    ) -> TracedHandler:
        handler_id = _int_or_none(record.get("handler_id"))
        phase = self._phase(run, record, when)
        for handler in reversed(phase.handlers):
            if handler.handler_id == handler_id and handler.status == "pending":
                return handler
        handler = TracedHandler(handler_id, _text(record.get("handler_name")), phase.name)
        self._add_handler(run, phase, handler)
        return handler

    @staticmethod
    def _add_handler(run: TracedRun, phase: TracedPhase, handler: TracedHandler) -> None:
        """Add *handler* to *phase*, with the child runs it fired before its first record.

        Since 1.2 a call's record follows the call (a call that settles in
        place has only its ``handler_settled``), so the runs it fired come
        first, as orphans of *run*: they go under it now.
        """
        phase.handlers.append(handler)
        if handler.handler_id is None or not run.orphans:
            return
        mine = [child for child in run.orphans if child.parent_handler_id == handler.handler_id]
        if mine:
            handler.children.extend(mine)
            run.orphans = [
                child for child in run.orphans if child.parent_handler_id != handler.handler_id
            ]


_REPR: Final = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 1_000


def _text(value: object) -> str:
    """A record's value as text: a string as it is, anything else as a bounded repr.

    Values of the wrong type (a list or a deeply nested object where a name
    belongs) must neither recurse deeply nor grow without bound.
    """
    if isinstance(value, str):
        return value
    try:
        return _REPR.repr(value)
    except Exception:  # noqa: BLE001 -- an integer too long to print, say
        return f"<{type(value).__name__}>"


_TIMESTAMP_LENGTH: Final = 40
"""Longer than any ISO 8601 timestamp: a longer string is not one."""
_EARLIEST: Final = dt.datetime(1, 1, 2, tzinfo=dt.timezone.utc).timestamp()
_LATEST: Final = dt.datetime(9999, 12, 30, tzinfo=dt.timezone.utc).timestamp()


def timestamp_seconds(value: object) -> float | None:
    """Return a record's ``timestamp`` in seconds since the epoch; None if it is not one.

    An ISO 8601 string (``2026-03-01T12:00:00.123456Z``, as
    :func:`configure_tracing` writes; without a UTC offset, local time) or a
    number of seconds since the epoch (structlog's ``TimeStamper(fmt=None)``)
    is a timestamp.  Anything else (another type, a date out of range, text
    that is not a date) is not, and never raises.

    .. versionadded:: 1.1
    """
    if isinstance(value, str):
        if len(value) > _TIMESTAMP_LENGTH:
            return None
        if value.endswith("Z"):  # Python 3.10's fromisoformat refuses the Z suffix
            value = value[:-1] + "+00:00"
        try:
            seconds = dt.datetime.fromisoformat(value).timestamp()
        except ValueError:
            seconds = _lenient(value)
        except (OverflowError, OSError):
            return None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer too large for a float
            return None
    else:
        return None
    return seconds if _EARLIEST <= seconds <= _LATEST else None


def _lenient(text: str) -> float:
    """Parse an ISO 8601 time with spaces around it or a lowercase z; NaN if not one."""
    text = text.strip()
    if text[-1:] in {"Z", "z"}:
        text = text[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        return math.nan


def _str_or_none(value: object) -> str | None:
    return None if value is None else _text(value)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def read_runs(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    on_error: Callable[[MalformedLine], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Generator[TracedRun, None, None]:
    """Read a JSON-lines trace and yield each top-level run's tree once it is complete.

    Trees come out in the order their runs complete; at the end come the runs
    the trace never completed, with status ``unfinished``.  The file is
    streamed: memory holds only the runs in flight at any point of the trace.

    Args:
        source: A path, or a binary stream.
        on_error: Called with each line that is not a JSON object (a
            truncated last line, say); reading goes on.  By default such
            lines are skipped silently.
        progress: Called every 65,536 lines with the bytes read so far and
            the total size (0 when unknown).

    Raises:
        OSError: *source* cannot be opened or read.

    .. versionadded:: 1.0
    """
    if isinstance(source, (str, os.PathLike)):
        with Path(source).open("rb") as stream:
            yield from _read(stream, os.fspath(source), on_error, progress)
    else:
        yield from _read(source, None, on_error, progress)


def join_runs(forests: Iterable[Iterable[TracedRun]]) -> list[TracedRun]:
    """Join the run trees of several traces (one per process) into one forest.

    A cluster node's run names the run that fired it in another process as
    its parent (:attr:`~twisted_event_dispatcher.EventRun.origin`); each
    process traces to a file of its own.  A top-level tree whose parent run is
    in another tree goes under the handler that fired it there, or among that
    run's orphans when the handler is not known.  Runs never form a cycle: a
    tree whose parent is inside it stays a top-level tree.

    Args:
        forests: The top-level trees of each trace, as :func:`read_runs`
            yields them.

    Returns:
        The top-level trees that are left, in the order they were given.

    .. versionadded:: 1.1
    """
    roots: list[TracedRun] = []
    root_of: dict[str, TracedRun] = {}
    runs: dict[str, TracedRun] = {}
    for forest in forests:
        for root in forest:
            roots.append(root)
            for member in root.walk():
                runs.setdefault(member.run_id, member)
                root_of.setdefault(member.run_id, root)
    joined: list[TracedRun] = []
    for root in roots:
        parent = None if root.parent_run_id is None else runs.get(root.parent_run_id)
        if parent is None or root_of[parent.run_id] is root or root_of[root.run_id] is not root:
            joined.append(root)
            continue
        TraceReader._attach(parent, root)
        new_root = root_of[parent.run_id]
        for member in root.walk():
            root_of[member.run_id] = new_root
    return [root for root in joined if root_of[root.run_id] is root]


def _size(stream: IO[bytes]) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError, AttributeError):
        return 0


def _parse(line: bytes, number: int, source: str | None) -> dict[str, Any] | MalformedLine:
    """Parse one line into a trace record, or say what is wrong with it."""
    try:
        record = json.loads(line)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        reason = "truncated JSON record" if not line.endswith(b"\n") else "malformed JSON"
        return MalformedLine(number, f"{reason} ({str(error)[:200]})", source)
    except RecursionError:
        return MalformedLine(number, "JSON nested too deeply", source)
    if not isinstance(record, dict) or not isinstance(record.get("event"), str):
        return MalformedLine(number, "not a trace record (no 'event' key)", source)
    return record


def _read(
    stream: IO[bytes],
    source: str | None,
    on_error: Callable[[MalformedLine], None] | None,
    progress: Callable[[int, int], None] | None,
) -> Iterator[TracedRun]:
    reader = TraceReader()
    total = _size(stream) if progress is not None else 0
    done = 0
    for number, line in enumerate(stream, start=1):
        done += len(line)
        if progress is not None and not number & 0xFFFF:
            progress(done, total)
        if not line.strip():
            continue
        record = _parse(line, number, source)
        if isinstance(record, MalformedLine):
            if on_error is not None:
                on_error(record)
            continue
        yield from reader.feed(record)
    if progress is not None:
        progress(done, total)
    yield from reader.finish()


def follow_runs(
    sources: Iterable[str | os.PathLike[str]],
    *,
    on_error: Callable[[MalformedLine], None] | None = None,
    poll_interval: float = 0.5,
    sleep: Callable[[float], object] = time.sleep,
) -> Generator[TracedRun, None, None]:
    """Follow growing JSON-lines traces, as ``tail -f`` does: yield each run tree as it completes.

    Each file is read from its start, then polled for new lines every
    *poll_interval* seconds, for ever: stop by closing the generator (or
    with :exc:`KeyboardInterrupt`).  Runs that have not completed by then
    are never yielded.  A last line without its newline (a record being
    written) is held until the rest arrives.  A file that shrinks (truncated
    by ``logrotate``'s ``copytruncate``, say) is read again from its start;
    a file replaced by another of the same name is not followed (as
    ``tail -f``, not ``tail -F``).

    The files are read as one trace: a run fired by a run of another file
    goes under it when that run's tree has not completed yet (see
    :func:`join_runs` for joining whole files).  Memory holds only the runs
    in flight.

    Args:
        sources: The paths of the traces.
        on_error: Called with each line that is not a JSON object; its
            :attr:`~MalformedLine.source` names the file.  By default such
            lines are skipped silently.
        poll_interval: Seconds between two looks at files that had nothing new.
        sleep: Called with *poll_interval* to wait (``time.sleep`` by
            default; tests pass a function that writes to the files instead).

    Raises:
        ValueError: *poll_interval* is not a positive number of seconds.
        OSError: A file cannot be opened or read.

    .. versionadded:: 1.1
    """
    if not 0 < poll_interval < math.inf:
        raise ValueError(
            f"poll_interval must be a positive number of seconds; got {poll_interval!r}"
        )
    tails: list[_Tail] = []
    try:
        tails.extend(_Tail(source) for source in sources)
        reader = TraceReader()
        while True:
            grew = False
            for tail in tails:
                for number, line in tail.lines():
                    grew = True
                    if not line.strip():
                        continue
                    record = _parse(line, number, tail.name)
                    if isinstance(record, MalformedLine):
                        if on_error is not None:
                            on_error(record)
                        continue
                    yield from reader.feed(record)
            if not grew:
                sleep(poll_interval)
    finally:
        for tail in tails:
            tail.close()


_CHUNK: Final = 1 << 20
"""How many bytes a followed file is read at a time."""


@final
class _Tail:
    """One followed file: its complete lines as they arrive, its partial last line held back."""

    def __init__(self, source: str | os.PathLike[str]) -> None:
        self.name = os.fspath(source)
        self._stream = Path(source).open("rb", buffering=0)  # noqa: SIM115 -- closed by close()
        self._position = 0
        self._pending = b""
        self._line_number = 0

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """Yield the complete lines written since the last call, with their numbers."""
        if os.fstat(self._stream.fileno()).st_size < self._position:  # truncated: start again
            self._stream.seek(0)
            self._position = self._line_number = 0
            self._pending = b""
        while True:
            chunk = self._stream.read(_CHUNK)
            if not chunk:
                return
            self._position += len(chunk)
            *complete, self._pending = (self._pending + chunk).split(b"\n")
            for line in complete:
                self._line_number += 1
                yield self._line_number, line + b"\n"

    def close(self) -> None:
        """Close the file."""
        self._stream.close()

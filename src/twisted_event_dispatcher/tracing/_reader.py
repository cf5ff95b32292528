"""Reading a JSON-lines trace back, streaming, as trees of runs, phases and handlers."""

from __future__ import annotations

import json
import os
import reprlib
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
    "join_runs",
    "read_runs",
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

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.reason}"


_END_STATUS: Final = {"run_dropped": "dropped", "run_rejected": "rejected"}


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
        run = self._open.get(run_id)
        if run is None:
            run = self._create(run_id, record)
        if event == "run_created":
            run.event_type = _str_or_none(record.get("event_type"))
            details = record.get("details")
            run.details = (
                {_text(key): _text(value) for key, value in details.items()}
                if isinstance(details, Mapping)
                else {}
            )
        elif event == "phase_entered":
            run.phases.append(TracedPhase(_text(record.get("phase"))))
        elif event == "handler_called":
            self._phase(run, record).handlers.append(
                TracedHandler(
                    _int_or_none(record.get("handler_id")),
                    _text(record.get("handler_name")),
                    _text(record.get("phase")),
                )
            )
        elif event == "handler_settled":
            handler = self._handler(run, record)
            handler.status = _text(record.get("status"))
            handler.duration = _float_or_none(record.get("duration"))
            handler.exception_type = _str_or_none(record.get("exception_type"))
            handler.exception_message = _str_or_none(record.get("exception_message"))
        elif event == "phase_completed":
            self._phase(run, record).failed = bool(record.get("failed"))
        elif event == "run_ended":
            run.duration = _float_or_none(record.get("duration"))
            return self._ended(run, _text(record.get("status")))
        elif event in _END_STATUS:
            return self._ended(run, _END_STATUS[str(event)])
        return []

    def finish(self) -> list[TracedRun]:
        """Return the top-level runs the trace never completed (status ``unfinished``)."""
        roots = [self._open[root] for root in self._unended if root in self._open]
        self._open.clear()
        self._root_of.clear()
        self._unended.clear()
        self._ended_ids.clear()
        return roots

    def _create(self, run_id: str, record: Mapping[str, Any]) -> TracedRun:
        parent_run_id = _str_or_none(record.get("parent_run_id"))
        run = TracedRun(
            run_id,
            parent_run_id=parent_run_id,
            parent_handler_id=_int_or_none(record.get("parent_handler_id")),
            parent_handler_name=_str_or_none(record.get("parent_handler_name")),
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

    def _ended(self, run: TracedRun, status: str) -> list[TracedRun]:
        if run.run_id in self._ended_ids:
            return []  # a second end record: keep the first
        self._ended_ids.add(run.run_id)
        run.status = status
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
    def _phase(run: TracedRun, record: Mapping[str, Any]) -> TracedPhase:
        name = _text(record.get("phase"))
        for phase in reversed(run.phases):
            if phase.name == name:
                return phase
        phase = TracedPhase(name)  # a trace written above debug level has no phase_entered
        run.phases.append(phase)
        return phase

    def _handler(self, run: TracedRun, record: Mapping[str, Any]) -> TracedHandler:
        handler_id = _int_or_none(record.get("handler_id"))
        phase = self._phase(run, record)
        for handler in reversed(phase.handlers):
            if handler.handler_id == handler_id and handler.status == "pending":
                return handler
        handler = TracedHandler(handler_id, _text(record.get("handler_name")), phase.name)
        phase.handlers.append(handler)
        return handler


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
            yield from _read(stream, on_error, progress)
    else:
        yield from _read(source, on_error, progress)


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


def _parse(line: bytes, number: int) -> dict[str, Any] | MalformedLine:
    """Parse one line into a trace record, or say what is wrong with it."""
    try:
        record = json.loads(line)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        reason = "truncated JSON record" if not line.endswith(b"\n") else "malformed JSON"
        return MalformedLine(number, f"{reason} ({str(error)[:200]})")
    except RecursionError:
        return MalformedLine(number, "JSON nested too deeply")
    if not isinstance(record, dict) or not isinstance(record.get("event"), str):
        return MalformedLine(number, "not a trace record (no 'event' key)")
    return record


def _read(
    stream: IO[bytes],
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
        record = _parse(line, number)
        if isinstance(record, MalformedLine):
            if on_error is not None:
                on_error(record)
            continue
        yield from reader.feed(record)
    if progress is not None:
        progress(done, total)
    yield from reader.finish()

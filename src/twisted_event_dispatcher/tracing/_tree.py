"""Traced runs as text trees, for terminals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Final, NamedTuple

from twisted_event_dispatcher.tracing._reader import TracedHandler, TracedPhase, TracedRun

__all__ = [
    "DEFAULT_VALUE_LENGTH",
    "format_duration",
    "format_offset",
    "format_time",
    "format_tree",
    "printable",
]

DEFAULT_VALUE_LENGTH: Final = 200
"""How many characters of a value (a detail, a message, a name) a tree shows by default.

.. versionadded:: 1.0
"""

_MAX_INDENT: Final = 12
"""Child runs nested deeper than this are not indented further, so lines stay short."""

_MARKS: Final = {
    "succeeded": "✓",
    "failed": "✗",
    "timed_out": "⏱",
    "cancelled": "⊘",
    "pending": "…",
}


def format_duration(seconds: float | None) -> str:
    """Return *seconds* as a short readable duration (``"12.5 ms"``, ``"1.20 s"``).

    .. versionadded:: 1.0
    """
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def printable(text: str, limit: int | None = DEFAULT_VALUE_LENGTH) -> str:
    r"""Return *text* fit for one line of a terminal: shortened, control characters escaped.

    Text longer than *limit* characters (None: no limit) is cut and marked
    with how much was cut; newlines, escape sequences and other characters
    that are not printable are shown as Python escapes (``\n``, ``\x1b``),
    so a value can neither break the tree's lines nor drive the terminal.

    .. versionadded:: 1.0
    """
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… (+{len(text) - limit} chars)"
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def format_offset(seconds: float) -> str:
    """Return *seconds* from a start as a signed short duration (``"+12.5 ms"``, ``"-1.20 s"``).

    .. versionadded:: 1.1
    """
    return ("-" if seconds < 0 else "+") + format_duration(abs(seconds))


def format_time(seconds: float) -> str:
    """Return a time in seconds since the epoch as ISO 8601 in UTC, to the millisecond.

    ``1772366400.5`` is ``"2026-03-01T12:00:00.500Z"``.

    .. versionadded:: 1.1
    """
    try:
        moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return f"{seconds:.3f}"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Clock(NamedTuple):
    """When the tree's top run started, so each line can say how long after."""

    origin: float | None

    def offset(self, start_time: float | None) -> str:
        if self.origin is None or start_time is None:
            return ""
        return format_offset(start_time - self.origin) + "  "


def _run_line(run: TracedRun, limit: int | None, depth: int, clock: _Clock) -> str:
    lead = clock.offset(run.start_time) if depth else ""  # the top run: its time, at the end
    parts = [f"{lead}run {printable(run.run_id, limit)}"]
    if run.event_type:
        parts.append(printable(run.event_type, limit))
    if run.details:
        parts.append(
            " ".join(
                f"{printable(str(key), limit)}={printable(str(value), limit)}"
                for key, value in run.details.items()
            )
        )
    parts.append(printable(run.status, limit))
    if run.duration is not None:
        parts.append(format_duration(run.duration))
    parent = None if run.parent_run_id is None else printable(run.parent_run_id, limit)
    if parent is not None and run.parent_handler_name is not None:
        parts.append(f"(fired by {printable(run.parent_handler_name, limit)} in run {parent})")
    elif parent is not None:
        parts.append(f"(child of run {parent})")
    if depth > _MAX_INDENT:
        parts.append(f"[depth {depth}]")
    if depth == 0 and clock.origin is not None:
        parts.append(f"at {format_time(clock.origin)}")
    return "  ".join(parts)


def _handler_line(handler: TracedHandler, limit: int | None, clock: _Clock) -> str:
    mark = _MARKS.get(handler.status, "?")
    parts = [
        f"{clock.offset(handler.start_time)}{mark} {printable(handler.handler_name, limit)}",
        printable(handler.status, limit),
    ]
    if handler.exception_type is not None:
        error = f"{handler.exception_type}: {handler.exception_message}"
        parts.append(printable(error, limit))
    if handler.duration is not None:
        parts.append(format_duration(handler.duration))
    return "  ".join(parts)


def format_tree(
    run: TracedRun,
    *,
    nested: bool = True,
    max_value_length: int | None = DEFAULT_VALUE_LENGTH,
    offsets: bool = True,
) -> Iterator[str]:
    """Yield the lines of *run*'s tree: the run, its phases, their handler calls.

    Child runs are nested under the handler call that fired them (or under
    the run, when the trace does not say which), unless *nested* is false.
    Chains of child runs of any depth are printed (without recursion);
    beyond a dozen levels they are no longer indented, and each run line
    says its depth instead.

    When *run* has a :attr:`~TracedRun.start_time`, its line ends with that
    time (``at 2026-03-01T12:00:00.000Z``, in UTC), and every other line
    (phase, handler call, child run) starts with how long after it that
    line's phase, call or run started (``+12.3 ms``), as the records'
    timestamps tell.  A line whose start the trace does not tell has no
    offset.

    Args:
        run: The run.
        nested: Whether to print its child runs.
        max_value_length: Each value (a detail, an exception message, a
            name) is cut to this many characters; None prints them whole.
            Control characters are always escaped (see :func:`printable`).
        offsets: Whether to print the start time and the offsets.

    .. versionchanged:: 1.1
       The start time and the offsets, and *offsets*.

    .. versionadded:: 1.0
    """
    if max_value_length is not None and max_value_length < 1:
        raise ValueError(f"max_value_length must be None or at least 1; got {max_value_length!r}")
    clock = _Clock(run.start_time if offsets else None)
    yield _run_line(run, max_value_length, 0, clock)
    stack = [_body(run, "", 0, nested=nested, limit=max_value_length, clock=clock)]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
        elif isinstance(step, str):
            yield step
        else:
            stack.append(_body(*step, nested=nested, limit=max_value_length, clock=clock))


class _Child(NamedTuple):
    """A request to print a child run's body below the line just yielded."""

    run: TracedRun
    prefix: str
    depth: int


def _body(
    run: TracedRun, prefix: str, depth: int, *, nested: bool, limit: int | None, clock: _Clock
) -> Iterator[str | _Child]:
    """Yield the lines below *run*'s own line, and a :class:`_Child` for each child run."""
    items: list[TracedPhase | TracedRun] = [*run.phases, *(run.orphans if nested else ())]
    for index, item in enumerate(items):
        last = index == len(items) - 1
        branch, extension = ("└── ", "    ") if last else ("├── ", "│   ")
        if isinstance(item, TracedRun):
            yield prefix + branch + _run_line(item, limit, depth + 1, clock)
            yield _child(item, prefix, extension, depth + 1)
            continue
        phase_line = clock.offset(item.start_time) + printable(item.name, limit)
        phase_line += "  (failed)" if item.failed else ""
        yield prefix + branch + phase_line
        handlers = item.handlers
        for h_index, handler in enumerate(handlers):
            h_last = h_index == len(handlers) - 1
            h_branch, h_extension = ("└── ", "    ") if h_last else ("├── ", "│   ")
            yield prefix + extension + h_branch + _handler_line(handler, limit, clock)
            if not nested:
                continue
            inner = prefix + extension + h_extension
            for c_index, child in enumerate(handler.children):
                c_last = c_index == len(handler.children) - 1
                c_branch, c_extension = ("└── ", "    ") if c_last else ("├── ", "│   ")
                yield inner + c_branch + _run_line(child, limit, depth + 1, clock)
                yield _child(child, inner, c_extension, depth + 1)


def _child(run: TracedRun, prefix: str, extension: str, depth: int) -> _Child:
    # Past _MAX_INDENT levels the prefix stops growing: a 1,000-deep chain prints
    # lines of bounded width, each saying its depth.
    return _Child(run, prefix if depth > _MAX_INDENT else prefix + extension, depth)

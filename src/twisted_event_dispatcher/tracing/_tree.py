"""Traced runs as text trees, for terminals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from twisted_event_dispatcher.tracing._reader import TracedHandler, TracedPhase, TracedRun

__all__ = ["format_duration", "format_tree"]

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


def _run_line(run: TracedRun) -> str:
    parts = [f"run {run.run_id}"]
    if run.event_type:
        parts.append(run.event_type)
    if run.details:
        parts.append(" ".join(f"{key}={value}" for key, value in run.details.items()))
    parts.append(run.status)
    if run.duration is not None:
        parts.append(format_duration(run.duration))
    if run.parent_run_id is not None and run.parent_handler_name is not None:
        parts.append(f"(fired by {run.parent_handler_name} in run {run.parent_run_id})")
    elif run.parent_run_id is not None:
        parts.append(f"(child of run {run.parent_run_id})")
    return "  ".join(parts)


def _handler_line(handler: TracedHandler) -> str:
    mark = _MARKS.get(handler.status, "?")
    parts = [f"{mark} {handler.handler_name}", handler.status]
    if handler.exception_type is not None:
        parts.append(f"{handler.exception_type}: {handler.exception_message}")
    if handler.duration is not None:
        parts.append(format_duration(handler.duration))
    return "  ".join(parts)


def format_tree(run: TracedRun, *, nested: bool = True) -> Iterator[str]:
    """Yield the lines of *run*'s tree: the run, its phases, their handler calls.

    Child runs are nested under the handler call that fired them (or under
    the run, when the trace does not say which), unless *nested* is false.

    .. versionadded:: 1.0
    """
    yield _run_line(run)
    yield from _body(run, "", nested=nested)


def _body(run: TracedRun, prefix: str, *, nested: bool) -> Iterator[str]:
    items: list[TracedPhase | TracedRun] = [*run.phases, *(run.orphans if nested else ())]
    for index, item in enumerate(items):
        last = index == len(items) - 1
        branch, extension = ("└── ", "    ") if last else ("├── ", "│   ")
        if isinstance(item, TracedRun):
            yield prefix + branch + _run_line(item)
            yield from _body(item, prefix + extension, nested=nested)
            continue
        yield prefix + branch + item.name + ("  (failed)" if item.failed else "")
        handlers = item.handlers
        for h_index, handler in enumerate(handlers):
            h_last = h_index == len(handlers) - 1
            h_branch, h_extension = ("└── ", "    ") if h_last else ("├── ", "│   ")
            yield prefix + extension + h_branch + _handler_line(handler)
            if not nested:
                continue
            inner = prefix + extension + h_extension
            for c_index, child in enumerate(handler.children):
                c_last = c_index == len(handler.children) - 1
                c_branch, c_extension = ("└── ", "    ") if c_last else ("├── ", "│   ")
                yield inner + c_branch + _run_line(child)
                yield from _body(child, inner + c_extension, nested=nested)

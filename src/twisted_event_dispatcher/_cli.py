"""The ``tedtool`` command line: ``diagram``, ``trace`` and ``stats``.

Also run as ``python -m twisted_event_dispatcher``.  Every failure caused by
bad input is reported as one line on standard error with a non-zero exit
status, never as a traceback.  The exit statuses:

- 0: done;
- 1: an error, reported on standard error (bad input, an unreadable file,
  malformed trace lines, a diagram ``dot`` could not render);
- 2: a bad command line (from :mod:`argparse`);
- 130: interrupted (Ctrl-C), except ``trace --follow``, which Ctrl-C ends with 0;
- 141: standard output was closed before everything was written (``| head``),
  as for a Unix tool stopped by ``SIGPIPE``; nothing is reported.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import errno
import heapq
import importlib
import math
import os
import re
import select
import sys
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from twisted_event_dispatcher.runtime import EventDispatcher
    from twisted_event_dispatcher.tracing import MalformedLine, TracedRun, TraceStats

__all__ = ["main"]

PROG: Final = "tedtool"
_OK: Final = 0
_FAILED: Final = 1
_INTERRUPTED: Final = 130
_OUTPUT_CLOSED: Final = 141
_SHOWN_ERRORS: Final = 10
"""Malformed trace lines reported one by one; the rest are counted."""
_DRAWINGS: Final = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
_STDOUT: Final = "-"
_STDIN: Final = "-"
_POLL_INTERVAL: Final = 0.25
"""Seconds between two looks at a followed trace that had nothing new."""


class _UsageError(Exception):
    """Bad input: reported as one line, exit status 1."""


class _OutputClosed(Exception):
    """Standard output (or an output pipe) was closed by its reader: exit quietly."""


class _NotATrace(Exception):
    """The first lines of the input (the file it names) are all malformed: stop reading."""


def _value_length(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of characters (0: no limit); got {text!r}"
        )
    return value or None


_RUN_STATUSES: Final = ("completed", "aborted", "cancelled", "dropped", "rejected", "unfinished")
_HANDLER_STATUSES: Final = ("succeeded", "failed", "timed_out", "cancelled", "pending")
_STATUSES: Final = tuple(dict.fromkeys((*_RUN_STATUSES, *_HANDLER_STATUSES)))
_AGO: Final = re.compile(r"-?(?P<count>[0-9]+(?:\.[0-9]+)?)(?P<unit>[smhdw])")
"""A relative time: ``10m`` (or ``-10m``) is ten minutes ago."""
_UNITS: Final = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_TIME_OPTIONS: Final = frozenset({"--since", "--until"})


def _statuses(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",")]
    for status in chosen:
        if status not in _STATUSES:
            raise argparse.ArgumentTypeError(
                f"unknown status {status!r}: expected {', '.join(_STATUSES)} "
                "(several separated by commas)"
            )
    return chosen


def _moment(text: str) -> float:
    """A point in time given as ISO 8601 or as a time ago, in seconds since the epoch."""
    from twisted_event_dispatcher.tracing import timestamp_seconds

    ago = _AGO.fullmatch(text.strip())
    if ago is not None:
        return time.time() - float(ago["count"]) * _UNITS[ago["unit"]]
    if text.strip() == "now":
        return time.time()
    seconds = timestamp_seconds(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(
            "expected an ISO 8601 time (2026-03-01T12:00:00Z, 2026-03-01 12:00 in local time, "
            f"2026-03-01), a time ago (30s, 10m, 2h, 1d, 1w, also -10m) or now; got {text!r}"
        )
    return seconds


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of runs (1 or more); got {text!r}")
    return value


def _times_ago_joined(argv: Sequence[str]) -> list[str]:
    """Let ``--since -10m`` mean ``--since=-10m``: argparse would read -10m as an option."""
    joined: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg == "--":
            joined += [arg, *rest]
            break
        if arg in _TIME_OPTIONS:
            value = next(rest, None)
            if value is not None and _AGO.fullmatch(value):
                joined.append(f"{arg}={value}")
                continue
            joined += [arg] if value is None else [arg, value]
            continue
        joined.append(arg)
    return joined


def _add_tree_filters(group: Any) -> None:
    """Add the filters ``trace`` and ``stats`` share (--status, --handler, --since, --until)."""
    group.add_argument(
        "--status",
        metavar="STATUS",
        type=_statuses,
        action="extend",
        help="trees whose top run ended with STATUS (a run's: "
        f"{', '.join(_RUN_STATUSES)}), or in which a handler call, child runs' included, "
        f"settled with it (a call's: {', '.join(_HANDLER_STATUSES)}); several separated "
        "by commas",
    )
    group.add_argument(
        "--handler",
        metavar="NAME",
        action="append",
        help="trees in which a handler was called whose qualified name contains NAME "
        "(a plain, case-sensitive substring: 'charge' matches shop.charge_card)",
    )
    group.add_argument(
        "--since",
        metavar="TIME",
        type=_moment,
        help="trees still going at TIME or started after it (a run that never ended is "
        "still going); TIME is ISO 8601 (2026-03-01T12:00:00Z; local time without an offset) "
        "or a time ago (30s, 10m, 2h, 1d, 1w, or -10m); compared with the records' timestamps",
    )
    group.add_argument(
        "--until",
        metavar="TIME",
        type=_moment,
        help="trees started at TIME or before it; trees without timestamps pass neither "
        "--since nor --until",
    )


def _parser() -> argparse.ArgumentParser:
    from twisted_event_dispatcher import __version__
    from twisted_event_dispatcher.tracing import DEFAULT_VALUE_LENGTH

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Diagrams and run traces for twisted_event_dispatcher.",
        epilog=f"Run '{PROG} COMMAND --help' for a command's options.  Exit status: 0 done, "
        "1 an error (reported), 2 a bad command line, 130 interrupted, 141 standard output "
        "closed early (as by '| head').",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    diagram = commands.add_parser(
        "diagram",
        help="draw a dispatcher's topology or its run machine",
        description="Import a dispatcher (or a zero-argument callable returning one) and "
        "write its diagram.  Rendering SVG, PNG or PDF needs Graphviz's dot binary; "
        "without it, the DOT source is written instead.",
    )
    diagram.add_argument(
        "target",
        metavar="MODULE:ATTRIBUTE",
        help="where the dispatcher is, such as myapp.events:dispatcher",
    )
    diagram.add_argument(
        "--kind",
        choices=("topology", "machine"),
        default="topology",
        help="phases and handlers (default), or the per-run state machine",
    )
    diagram.add_argument(
        "--details",
        nargs="+",
        metavar="KEY=VALUE",
        default=None,
        help="highlight the handlers firing with these details would call (topology only); "
        "VALUE is a Python literal when it parses as one (3, None, 'x'), else a string",
    )
    diagram.add_argument(
        "-o", "--output", metavar="FILE", help="default (and '-'): standard output"
    )
    diagram.add_argument(
        "--format",
        choices=("svg", "png", "pdf", "dot"),
        help="default: the output file's suffix (.svg, .png, .pdf, .dot or .gv; another "
        "suffix is refused), else svg",
    )
    trace = commands.add_parser(
        "trace",
        help="print or draw the runs of a JSON-lines trace",
        description="Read a JSON-lines trace written by configure_tracing(), streaming, and "
        "print each run as a tree (runs, phases, handlers; child runs under the handler "
        "that fired them), or draw one run.",
    )
    trace.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help="the JSON-lines trace ('-' for stdin); several (one per process of a cluster) "
        "are joined: a run fired from another process goes under the handler that fired it",
    )
    trace.add_argument(
        "--run",
        metavar="RUN_ID",
        help="only this run and its child runs (default for drawings: the first run)",
    )
    filters = trace.add_argument_group(
        "filters",
        "Each tree (a top-level run with its child runs; with --run, that run with its "
        "child runs) is shown whole or not at all.  It is shown when it passes every "
        "filter given; a filter given several times passes a tree that matches any of its "
        "values.",
    )
    _add_tree_filters(filters)
    filters.add_argument(
        "--slowest",
        metavar="N",
        type=_count,
        help="of the trees the other filters pass, the N whose top run took longest, slowest "
        "first (runs without a duration are not ranked); shown once the trace is read",
    )
    trace.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep reading as the files grow, as 'tail -f' does, and show each tree once it "
        "completes; stop with Ctrl-C (exit status 0)",
    )
    trace.add_argument(
        "--format",
        choices=("tree", "svg", "png", "pdf", "dot"),
        help="a text tree or a drawing of one run; default: the output file's suffix (.txt "
        "for the tree, .svg, .png, .pdf, .dot or .gv for a drawing; another suffix is "
        "refused), else tree",
    )
    trace.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write ('-': standard output); default: standard output for the tree, "
        "run-RUN_ID.FORMAT for a drawing",
    )
    trace.add_argument(
        "--max-value-length",
        metavar="N",
        type=_value_length,
        default=DEFAULT_VALUE_LENGTH,
        help=f"cut each value in the tree (a detail, a message, a name) to N characters "
        f"(default: {DEFAULT_VALUE_LENGTH}; 0: never)",
    )
    stats = commands.add_parser(
        "stats",
        help="sum up the handler calls of JSON-lines traces: counts and durations",
        description="Read JSON-lines traces written by configure_tracing(), streaming, and "
        "print two tables: per handler (by qualified name) and per phase, the calls, how "
        "many failed and timed out, and the 50th, 95th and 99th percentiles of the calls' "
        "durations (nearest rank: the smallest duration that at least P% of the settled "
        "calls took no longer than).",
    )
    stats.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help="the JSON-lines trace ('-' for stdin); several (one per process of a cluster) "
        "are summed up together",
    )
    _add_tree_filters(
        stats.add_argument_group(
            "filters",
            "Only the calls of the trees (a top-level run with its child runs, each file's "
            "read on its own) that pass every filter given are counted, the trees chosen as "
            "'trace' chooses them.",
        )
    )
    stats.add_argument(
        "--max-value-length",
        metavar="N",
        type=_value_length,
        default=DEFAULT_VALUE_LENGTH,
        help=f"cut each handler and phase name to N characters "
        f"(default: {DEFAULT_VALUE_LENGTH}; 0: never)",
    )
    stats.add_argument(
        "--format",
        choices=("table", "svg", "png", "pdf", "dot"),
        help="the text tables, or a chart of the same (bars of p50, p95 and p99 per handler "
        "and per phase, drawn by Graphviz); default: the output file's suffix (.txt for the "
        "tables, .svg, .png, .pdf, .dot or .gv for a chart; another suffix is refused), "
        "else table",
    )
    stats.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write ('-': standard output); default: standard output for the "
        "tables, stats.FORMAT for a chart",
    )
    stats.set_defaults(run=None, slowest=None, follow=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv* (default: ``sys.argv[1:]``); return the exit status.

    .. versionadded:: 1.0
    """
    args = _parser().parse_args(_times_ago_joined(sys.argv[1:] if argv is None else argv))
    try:
        command = {"diagram": _diagram, "stats": _stats}.get(args.command, _trace)
        return command(args)
    except _UsageError as error:
        _error(str(error))
        return _FAILED
    except _OutputClosed:
        _silence_stdout()
        return _OUTPUT_CLOSED
    except ImportError as error:
        if error.name == "graphviz":
            from twisted_event_dispatcher.viz import PACKAGE_HINT

            _error(PACKAGE_HINT)
            return _FAILED
        raise
    except KeyboardInterrupt:
        _error("interrupted")
        return _INTERRUPTED


def _error(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # standard error gone too: nowhere to say it
        print(f"{PROG}: error: {message}", file=sys.stderr)  # noqa: T201


def _silence_stdout() -> None:
    """Point standard output at the null device, so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # not a real file descriptor (a test's capture): nothing to flush at exit


def _format_from_suffix(output: str, *, text: str | None) -> str | None:
    """The format *output*'s suffix names; None when it has none; refuse any other.

    *text* names the command's text format (``.txt`` names it), None when it has none.
    """
    if output == _STDOUT:
        return None
    suffix = Path(output).suffix.lower()
    if not suffix:
        return None
    if suffix in _DRAWINGS:
        return _DRAWINGS[suffix]
    if text is not None and suffix == ".txt":
        return text
    known = ", ".join([*(["txt"] if text else []), *(s.lstrip(".") for s in _DRAWINGS)])
    raise _UsageError(
        f"cannot tell the format from the suffix of {output!r}: use a file ending in one of "
        f"{known}, or --format"
    )


class _Output:
    """Standard output or a file, opened on the first write; a closed pipe is _OutputClosed."""

    def __init__(self, target: str | None) -> None:
        self._path = None if target is None or target == _STDOUT else Path(target)
        self._file: IO[bytes] | None = None

    @property
    def name(self) -> str:
        return "standard output" if self._path is None else str(self._path)

    def _file_stream(self, path: Path) -> IO[bytes]:
        if self._file is None:
            try:
                self._file = path.open("wb")
            except OSError as error:
                raise _UsageError(f"cannot write {path}: {error.strerror or error}") from None
        return self._file

    def write(self, data: bytes) -> None:
        """Write *data*."""
        with self._guard():
            if self._path is None:
                sys.stdout.flush()
                _write_all(sys.stdout.buffer, data)
            else:
                _write_all(self._file_stream(self._path), data)

    def write_text(self, text: str) -> None:
        """Write *text*: UTF-8 into a file; to standard output in its own encoding."""
        if self._path is not None:
            self.write(text.encode("utf-8"))
            return
        if not hasattr(sys.stdout, "buffer"):  # replaced by a text-only stream
            with self._guard():
                sys.stdout.write(text)
            return
        # Characters the encoding lacks (a terminal that cannot show ✓) become escapes.
        self.write(text.encode(sys.stdout.encoding or "utf-8", "backslashreplace"))

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise _OutputClosed from None
        except OSError as error:
            raise _UsageError(f"cannot write {self.name}: {error.strerror or error}") from None

    def close(self) -> None:
        """Close the file, if one was opened."""
        if self._file is not None:
            self._file.close()


# -- diagram --------------------------------------------------------------------------


def _load(target: str) -> EventDispatcher:
    from twisted_event_dispatcher.runtime import EventDispatcher

    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise _UsageError(
            f"expected MODULE:ATTRIBUTE, such as myapp.events:dispatcher; got {target!r}"
        )
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, "")  # like python -m: modules of the working directory import
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise _UsageError(f"cannot import module {module_name!r}: {error}") from None
    except Exception as error:  # noqa: BLE001 -- the user's module failed: report, don't crash
        raise _UsageError(
            f"importing module {module_name!r} failed: {type(error).__name__}: {error}"
        ) from None
    value: Any = module
    missing = object()
    for part in attribute.split("."):
        value = getattr(value, part, missing)
        if value is missing:
            raise _UsageError(f"module {module_name!r} has no attribute {attribute!r}")
    if not isinstance(value, EventDispatcher) and callable(value):
        try:
            value = value()
        except Exception as error:  # noqa: BLE001 -- the user's factory failed
            raise _UsageError(
                f"calling {target} failed: {type(error).__name__}: {error}"
            ) from None
    if not isinstance(value, EventDispatcher):
        raise _UsageError(
            f"{target} is a {type(value).__qualname__}, not an EventDispatcher "
            "(or a zero-argument callable returning one)"
        )
    return value


def _parse_details(pairs: Sequence[str]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise _UsageError(f"--details takes KEY=VALUE pairs; got {pair!r}")
        try:
            value: Any = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = text
        details[key] = value
    return details


def _diagram(args: argparse.Namespace) -> int:
    from twisted_event_dispatcher import viz

    dispatcher = _load(args.target)
    if args.kind == "machine":
        if args.details is not None:
            raise _UsageError("--details applies to --kind topology only")
        graph = viz.run_machine(dispatcher)
    else:
        details = None if args.details is None else _parse_details(args.details)
        try:
            graph = viz.topology(dispatcher, details=details)
        except (ValueError, TypeError) as error:
            raise _UsageError(f"bad --details: {error}") from None
    fmt = args.format or _format_from_suffix(args.output or _STDOUT, text=None) or "svg"
    return _emit(graph, fmt, args.output)


def _emit(graph: Any, fmt: Any, output: str | None) -> int:
    from twisted_event_dispatcher import viz

    path = None if output is None or output == _STDOUT else Path(output)
    if path is None and fmt in {"png", "pdf"} and sys.stdout.isatty():
        raise _UsageError(f"refusing to write {fmt.upper()} to a terminal; use -o FILE")
    try:
        data = viz.render(graph, fmt)
    except viz.RenderError as error:
        fallback = _Output(None if path is None else str(path.with_suffix(".dot")))
        fallback.write(viz.render(graph, "dot"))
        fallback.close()
        _error(f"{error}; wrote the DOT source to {fallback.name} instead")
        return _FAILED
    out = _Output(output)
    out.write(data)
    out.close()
    if path is not None:
        print(f"wrote {path}", file=sys.stderr)  # noqa: T201
    return _OK


# -- trace ----------------------------------------------------------------------------


class _Progress:
    """Rewrites one status line on a terminal's standard error, a few times a second."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.2 and done != total:  # noqa: PLR2004 -- five updates a second
            return
        self._last = now
        share = f" ({done * 100 // total}%)" if total else ""
        self._stream.write(f"\rreading trace: {done / 1e6:.1f} MB{share}")
        self._stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self._stream.write("\r\033[K")
            self._stream.flush()


class _Problems:
    """Reports the first few malformed lines, counts the rest, and gives up on a non-trace."""

    def __init__(self, file: str) -> None:
        self._file = file
        self.count = 0

    def __call__(self, problem: MalformedLine) -> None:
        self.count += 1
        if self.count <= _SHOWN_ERRORS:
            _error(f"{self._file}: {problem}")
        if self.count == _SHOWN_ERRORS and problem.line_number == _SHOWN_ERRORS:
            raise _NotATrace(self._file)

    def summary(self) -> None:
        if self.count > _SHOWN_ERRORS:
            _error(
                f"{self._file}: {self.count} malformed lines in all "
                f"(the first {_SHOWN_ERRORS} are shown)"
            )


def _check_follow(args: argparse.Namespace) -> None:
    if args.follow and args.slowest is not None:
        raise _UsageError("--slowest ranks the whole trace: it cannot be used with --follow")
    if args.follow and _STDIN in args.files and len(args.files) > 1:
        raise _UsageError("--follow reads standard input ('-') only on its own")


def _trace(args: argparse.Namespace) -> int:
    fmt = args.format or _format_from_suffix(args.output or _STDOUT, text="tree") or "tree"
    _check_follow(args)
    every = {file: _Problems(file) for file in args.files}
    following = args.follow and args.files != [_STDIN]
    progress = _Progress(sys.stderr) if sys.stderr.isatty() and not following else None
    sources = [_source(file) for file in args.files]
    readers: list[Generator[TracedRun, None, None]] = []
    status = _OK
    found = False
    try:
        runs = _runs(args, sources, every, progress, readers)
        chosen = _chosen(runs, args)
        if fmt == "tree":
            found = _print_trees(chosen, args, progress)
        else:
            found, status = _draw_run(chosen, args, fmt, progress)
    except _NotATrace as error:
        _error(
            f"{error}: stopped reading: its first {_SHOWN_ERRORS} lines are not trace "
            "records (is it a JSON-lines trace?)"
        )
        return _FAILED
    except OSError as error:
        reading = error.filename if isinstance(error.filename, str) else args.files[0]
        raise _UsageError(f"cannot read {reading}: {error.strerror or error}") from None
    except KeyboardInterrupt:
        if not args.follow:
            raise
        status = _INTERRUPTED
    finally:
        for reader in readers:
            reader.close()
        if progress is not None:
            progress.clear()
    return _trace_status(args, every.values(), found=found, status=status)


def _trace_status(
    args: argparse.Namespace, every: Iterable[_Problems], *, found: bool, status: int
) -> int:
    """Sum up what went wrong reading the trace, and return the exit status."""
    malformed = False
    for problems in every:
        problems.summary()
        malformed = malformed or bool(problems.count)
    if status == _INTERRUPTED:  # Ctrl-C is how --follow ends
        return _OK
    if not found:
        _error(f"{', '.join(args.files)}: {_nothing_found(args)}")
        return _FAILED
    return _FAILED if malformed else status


def _runs(
    args: argparse.Namespace,
    sources: list[Any],
    every: dict[str, _Problems],
    progress: _Progress | None,
    readers: list[Generator[TracedRun, None, None]],
) -> Iterator[TracedRun]:
    """Return the top-level run trees of the trace files: read, joined or followed.

    *readers* receives the generators to close.
    """
    from twisted_event_dispatcher.tracing import follow_runs, join_runs, read_runs

    if args.follow and args.files != [_STDIN]:
        to_stdout = args.output is None or args.output == _STDOUT
        follower = follow_runs(
            args.files,
            on_error=lambda problem: every[problem.source or args.files[0]](problem),
            poll_interval=_POLL_INTERVAL,
            sleep=_idle if to_stdout else time.sleep,
        )
        readers.append(follower)
        return follower
    readers.extend(
        read_runs(source, on_error=every[file], progress=progress)
        for file, source in zip(args.files, sources, strict=True)
    )
    if len(readers) == 1:
        return readers[0]
    forests = [_whole(file, reader) for file, reader in zip(args.files, readers, strict=True)]
    return iter(join_runs(forests))


def _whole(file: str, reader: Iterator[TracedRun]) -> list[TracedRun]:
    try:
        return list(reader)
    except OSError as error:  # name the file being read, whatever the error says
        error.filename = file
        raise


def _idle(seconds: float) -> None:
    """Wait for a followed trace to grow, watching standard output meanwhile.

    When the reader of a pipe on standard output goes away (``| head``),
    nothing tells a process that is not writing: as GNU ``tail -f`` does, the
    wait looks out for it, and ends the command as a write would.
    """
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLERR)  # also reports POLLHUP
    except (AttributeError, OSError, ValueError):  # no poll(), or no file descriptor
        time.sleep(seconds)
        return
    if poller.poll(seconds * 1000):
        raise _OutputClosed


def _nothing_found(args: argparse.Namespace) -> str:
    what = f"no run {args.run!r}" if args.run else "no runs"
    filters = [
        option
        for option, value in (
            ("--status", args.status),
            ("--handler", args.handler),
            ("--since", args.since),
            ("--until", args.until),
        )
        if value is not None
    ]
    if not filters:
        return f"{what} in the trace"
    if args.run:
        return f"{what} in the trace, or it does not match {' and '.join(filters)}"
    return f"no runs in the trace match {' and '.join(filters)}"


def _source(file: str) -> Any:
    if file == _STDIN:
        return sys.stdin.buffer
    source = Path(file)
    if source.is_dir():
        raise _UsageError(f"cannot read {file}: it is a directory")
    return source


def _select(run: TracedRun, run_id: str | None) -> TracedRun | None:
    if run_id is None:
        return run
    for member in run.walk():
        if member.run_id == run_id:
            return member
    return None


def _chosen(runs: Iterator[TracedRun], args: argparse.Namespace) -> Iterator[TracedRun]:
    """The trees to show: --run's, those the filters let through, ranked by --slowest."""
    statuses = frozenset(args.status or ())
    names = tuple(args.handler or ())
    selected = (_select(run, args.run) for run in runs)
    matching = (
        tree
        for tree in selected
        if tree is not None
        and _matches(tree, statuses, names)
        and _in_window(tree, args.since, args.until)
    )
    if args.slowest is None:
        return matching
    timed = (tree for tree in matching if tree.duration is not None)
    # Stable: of runs that took as long, the first in the trace comes first.
    return iter(heapq.nlargest(args.slowest, timed, key=lambda tree: tree.duration or 0.0))


def _matches(tree: TracedRun, statuses: frozenset[str], names: tuple[str, ...]) -> bool:
    """Whether *tree* passes --status and --handler.

    The tree's top run, or a handler call anywhere in the tree (child runs
    included), must have one of *statuses* (if any); a handler call anywhere
    in it must have a name containing one of *names* (if any).  A child run's
    own status does not count: a completed run that fired a child run is not
    "aborted" because the child was, though the failed call that aborted the
    child makes it match ``failed``.
    """
    status_found = not statuses or tree.status in statuses
    name_found = not names
    for run in tree.walk():
        for handler in run.handlers:
            status_found = status_found or handler.status in statuses
            name_found = name_found or any(name in handler.handler_name for name in names)
        if status_found and name_found:
            return True
    return False


def _in_window(tree: TracedRun, since: float | None, until: float | None) -> bool:
    """Whether *tree*'s runs were going at some time between *since* and *until*.

    The tree spans from its first run's start to its last run's end; a run
    that never ended is still going.  A tree without timestamps is outside
    every window.
    """
    if since is None and until is None:
        return True
    starts: list[float] = []
    end = -math.inf
    for run in tree.walk():
        if run.start_time is not None:
            starts.append(run.start_time)
            end = max(end, run.start_time)
        if run.status == "unfinished":
            end = math.inf
        elif run.end_time is not None:
            end = max(end, run.end_time)
    if not starts:
        return False
    return (since is None or end >= since) and (until is None or min(starts) <= until)


def _print_trees(
    runs: Iterator[TracedRun], args: argparse.Namespace, progress: _Progress | None
) -> bool:
    from twisted_event_dispatcher.tracing import format_tree

    found = False
    out = _Output(args.output)
    try:
        for run in runs:
            if progress is not None:
                progress.clear()
            lines = format_tree(run, max_value_length=args.max_value_length)
            out.write_text(("\n" if found else "") + "\n".join(lines) + "\n")
            found = True
            if args.run is not None:
                break
    finally:
        out.close()
    return found


def _write_all(stream: IO[bytes], data: bytes) -> None:
    """Write all of *data* and flush.

    A buffered write can return short, without an error, when the reader of a
    pipe goes away (``| head``); writing the rest then raises BrokenPipeError.
    """
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if written <= 0:
            raise OSError(errno.EIO, "the output accepted nothing")
        view = view[written:]
    stream.flush()


def _file_name(run_id: str) -> str:
    """A file name for a drawing of *run_id*, whatever a (hostile) trace put in the id."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:100].lstrip(".") or "run"


def _draw_run(
    runs: Iterator[TracedRun],
    args: argparse.Namespace,
    fmt: str,
    progress: _Progress | None,
) -> tuple[bool, int]:
    from twisted_event_dispatcher import viz

    for run in runs:
        if progress is not None:
            progress.clear()
        output = args.output or f"run-{_file_name(run.run_id)}.{fmt}"
        return True, _emit(viz.run_trace(run), fmt, output)
    return False, _OK


# -- stats ----------------------------------------------------------------------------


def _stats_table(stats: TraceStats, limit: int | None) -> list[str]:
    """The summary line and the two aligned tables (per handler, per phase), as lines."""
    from twisted_event_dispatcher.tracing import PERCENTILES, format_duration, printable

    lines = [f"{stats.runs} runs, {stats.calls} handler calls"]
    for title, tallies in (("handler", stats.handlers), ("phase", stats.phases)):
        header = [title, "calls", "failed", "timed out"] + [f"p{p}" for p in PERCENTILES]
        rows = [header] + [
            [
                printable(name, limit),
                str(tally.calls),
                str(tally.failures),
                str(tally.timeouts),
                *(
                    "-" if value is None else format_duration(value)
                    for value in tally.percentiles().values()
                ),
            ]
            for name, tally in tallies.items()
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines.append("")
        lines.extend(
            "  ".join(
                [row[0].ljust(widths[0])]
                + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            ).rstrip()
            for row in rows
        )
    return lines


def _stats(args: argparse.Namespace) -> int:
    from twisted_event_dispatcher.tracing import TraceStats, read_runs

    fmt = args.format or _format_from_suffix(args.output or _STDOUT, text="table") or "table"
    every = {file: _Problems(file) for file in args.files}
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    sources = [_source(file) for file in args.files]
    stats = TraceStats()
    try:
        for file, source in zip(args.files, sources, strict=True):
            reader = read_runs(source, on_error=every[file], progress=progress)
            try:
                for tree in _chosen(reader, args):
                    stats.add(tree)
            except OSError as error:
                error.filename = file
                raise
            finally:
                reader.close()
    except _NotATrace as error:
        _error(
            f"{error}: stopped reading: its first {_SHOWN_ERRORS} lines are not trace "
            "records (is it a JSON-lines trace?)"
        )
        return _FAILED
    except OSError as error:
        reading = error.filename if isinstance(error.filename, str) else args.files[0]
        raise _UsageError(f"cannot read {reading}: {error.strerror or error}") from None
    finally:
        if progress is not None:
            progress.clear()
    status = _OK
    if stats.runs and fmt == "table":
        out = _Output(args.output)
        out.write_text("\n".join(_stats_table(stats, args.max_value_length)) + "\n")
        out.close()
    elif stats.runs:
        from twisted_event_dispatcher import viz

        chart = viz.stats_chart(stats, limit=args.max_value_length)
        status = _emit(chart, fmt, args.output or f"stats.{fmt}")
    return _trace_status(args, every.values(), found=bool(stats.runs), status=status)

"""The ``tedtool`` command line: ``diagram`` and ``trace``.

Also run as ``python -m twisted_event_dispatcher``.  Every failure caused by
bad input is reported as one line on standard error with a non-zero exit
status, never as a traceback.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from twisted_event_dispatcher.runtime import EventDispatcher
    from twisted_event_dispatcher.tracing import MalformedLine, TracedRun

__all__ = ["main"]

PROG: Final = "tedtool"
_OK: Final = 0
_FAILED: Final = 1


class _UsageError(Exception):
    """Bad input: reported as one line, exit status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Diagrams and run traces for twisted_event_dispatcher.",
        epilog=f"Run '{PROG} COMMAND --help' for a command's options.",
    )
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
    diagram.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    diagram.add_argument(
        "--format",
        choices=("svg", "png", "pdf", "dot"),
        help="default: the output file's suffix, else svg",
    )
    trace = commands.add_parser(
        "trace",
        help="print or draw the runs of a JSON-lines trace",
        description="Read a JSON-lines trace written by configure_tracing(), streaming, and "
        "print each run as a tree (runs, phases, handlers; child runs under the handler "
        "that fired them), or draw one run.",
    )
    trace.add_argument("file", metavar="FILE", help="the JSON-lines trace ('-' for stdin)")
    trace.add_argument(
        "--run",
        metavar="RUN_ID",
        help="only this run and its child runs (default for drawings: the first run)",
    )
    trace.add_argument(
        "--format",
        choices=("tree", "svg", "png", "pdf", "dot"),
        default="tree",
        help="a text tree (default) or a drawing of one run",
    )
    trace.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write a drawing (default: run-RUN_ID.FORMAT)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv* (default: ``sys.argv[1:]``); return the exit status.

    .. versionadded:: 1.0
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "diagram":
            return _diagram(args)
        return _trace(args)
    except _UsageError as error:
        _error(str(error))
        return _FAILED
    except ImportError as error:
        if error.name == "graphviz":
            _error(
                "diagrams need the graphviz package: pip install 'twisted_event_dispatcher[viz]'"
            )
            return _FAILED
        raise
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)  # noqa: T201


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
    fmt = args.format or (viz.format_of(args.output) if args.output else "svg")
    return _emit(graph, fmt, args.output)


def _emit(graph: Any, fmt: Any, output: str | None) -> int:
    from twisted_event_dispatcher import viz

    if output is None and fmt in {"png", "pdf"} and sys.stdout.isatty():
        raise _UsageError(f"refusing to write {fmt.upper()} to a terminal; use -o FILE")
    try:
        data = viz.render(graph, fmt)
    except viz.RenderError as error:
        source = viz.render(graph, "dot")
        if output is None:
            sys.stdout.buffer.write(source)
            sys.stdout.flush()
            where = "standard output"
        else:
            fallback = Path(output).with_suffix(".dot")
            _write(fallback, source)
            where = str(fallback)
        _error(f"{error}; wrote the DOT source to {where} instead")
        return _FAILED
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        _write(Path(output), data)
        print(f"wrote {output}", file=sys.stderr)  # noqa: T201
    return _OK


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        raise _UsageError(f"cannot write {path}: {error.strerror or error}") from None


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


def _trace(args: argparse.Namespace) -> int:
    from twisted_event_dispatcher.tracing import read_runs

    errors: list[MalformedLine] = []

    def report(problem: MalformedLine) -> None:
        errors.append(problem)
        _error(f"{args.file}: {problem}")

    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    if args.file == "-":
        source: Any = sys.stdin.buffer
    else:
        source = Path(args.file)
        if source.is_dir():
            raise _UsageError(f"cannot read {args.file}: it is a directory")
    runs = read_runs(source, on_error=report, progress=progress)
    try:
        status = _OK
        if args.format == "tree":
            found = _print_trees(runs, args.run, progress)
        else:
            found, status = _draw_run(runs, args, progress)
    except OSError as error:
        raise _UsageError(f"cannot read {args.file}: {error.strerror or error}") from None
    finally:
        if progress is not None:
            progress.clear()
    if not found:
        what = f"no run {args.run!r}" if args.run else "no runs"
        _error(f"{args.file}: {what} in the trace")
        return _FAILED
    return _FAILED if errors else status


def _select(run: TracedRun, run_id: str | None) -> TracedRun | None:
    if run_id is None:
        return run
    for member in run.walk():
        if member.run_id == run_id:
            return member
    return None


def _print_trees(runs: Any, run_id: str | None, progress: _Progress | None) -> bool:
    from twisted_event_dispatcher.tracing import format_tree

    found = False
    out = sys.stdout
    for run in runs:
        chosen = _select(run, run_id)
        if chosen is None:
            continue
        if progress is not None:
            progress.clear()
        if found:
            out.write("\n")
        out.write("\n".join(format_tree(chosen)) + "\n")
        found = True
        if run_id is not None:
            break
    out.flush()
    return found


def _draw_run(runs: Any, args: argparse.Namespace, progress: _Progress | None) -> tuple[bool, int]:
    from twisted_event_dispatcher import viz

    for run in runs:
        chosen = _select(run, args.run)
        if chosen is None:
            continue
        if progress is not None:
            progress.clear()
        output = args.output or f"run-{chosen.run_id}.{args.format}"
        return True, _emit(viz.run_trace(chosen), args.format, output)
    return False, _OK

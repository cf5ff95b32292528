"""Instructions per event, counted by valgrind's callgrind: figures that do not depend on load.

A case runs in a child process under ``valgrind --tool=callgrind`` twice: once
firing N events and once firing 2N.  Both pay the same start-up (the
interpreter, the imports, building the case) and the same first N events (so
the first calls' one-off costs, such as the interpreter specialising its
byte code, are in both), so the difference, divided by N, is the steady cost
of one event, net of everything else.  With ``PYTHONHASHSEED`` fixed, the
same code gives the same count on every run, whatever else the machine does.

This module is the pure part (building the command, reading callgrind's
output, the subtraction) and the runner; what a child fires is in
``_count_child.py``.  It imports nothing from the package, so its tests can
load it alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

EVENT_NAME = "Ir"
"""Callgrind's event for instructions executed (its default, and only, event here)."""


@dataclass(frozen=True)
class Measurement:
    """One child process under callgrind: the events it fired, the instructions it ran."""

    events: int
    instructions: int


def parse_callgrind(text: str) -> int:
    """Return the total instruction count from the text of a ``callgrind.out`` file.

    Callgrind writes ``events:`` (the names of the counted events) and then
    ``summary:`` and/or ``totals:`` with one number per event; the count of
    ``Ir`` is taken from ``totals:`` if present, else ``summary:``.

    Raises:
        ValueError: The text has no ``events:`` line naming ``Ir``, or no total.
    """
    events: list[str] | None = None
    found: dict[str, list[int]] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        if key == "events":
            events = rest.split()
        elif key in {"summary", "totals"}:
            found[key] = [int(value) for value in rest.split()]
    if events is None or EVENT_NAME not in events:
        raise ValueError(f"no 'events:' line naming {EVENT_NAME} in the callgrind output")
    values = found.get("totals", found.get("summary"))
    if values is None:
        raise ValueError("no 'totals:' or 'summary:' line in the callgrind output")
    index = events.index(EVENT_NAME)
    if index >= len(values):
        raise ValueError(f"the total has {len(values)} values for {len(events)} events")
    return values[index]


def per_event(low: Measurement, high: Measurement) -> float:
    """Instructions per event: the extra instructions of *high* over *low*, per extra event.

    Raises:
        ValueError: *high* does not fire more events than *low*, or ran fewer
            instructions (the two runs did not do the same work up to *low*'s end).
    """
    extra_events = high.events - low.events
    if extra_events <= 0:
        raise ValueError(f"the second run must fire more events: {low.events} then {high.events}")
    extra = high.instructions - low.instructions
    if extra < 0:
        raise ValueError(
            f"{high.events} events ran fewer instructions ({high.instructions:,}) "
            f"than {low.events} ({low.instructions:,})"
        )
    return extra / extra_events


def spread(values: Sequence[float]) -> float:
    """How far apart *values* are: (largest - smallest) / smallest (0.0 when they agree)."""
    if not values:
        raise ValueError("spread of no values")
    smallest = min(values)
    if smallest <= 0:
        raise ValueError(f"spread needs positive values; got {smallest}")
    return (max(values) - smallest) / smallest


def format_count(count: float) -> str:
    """Format an instruction count for a table cell: 633k, 1.25M, 950."""
    if count >= 1e6:
        return f"{count / 1e6:.2f}M"
    if count >= 1e4:
        return f"{count / 1e3:.0f}k"
    if count >= 1e3:
        return f"{count / 1e3:.1f}k"
    return f"{count:.0f}"


def child_environment(seed: int) -> dict[str, str]:
    """The child's whole environment: the hash seed, and nothing that differs between shells.

    While the dispatcher's machines find transitions by scanning a set whose
    order follows the states' hashes, and those hash their machine builder by
    its address, the count depends on where objects land in memory; the
    environment's size moves that.  The same environment in every run keeps
    the counts of one checkout the same from run to run.  (The counted runs
    also write no byte code caches: a run that compiled a module and wrote
    its cache would cost more than the next, which reads it, and the two
    would not subtract.  Run each child once before counting to write them.)
    """
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONHASHSEED": str(seed),
        "LC_ALL": "C.UTF-8",
    }


def callgrind_command(valgrind: str, out_file: Path, argv: Sequence[str]) -> list[str]:
    """The command that runs *argv* under callgrind, writing its counts to *out_file*."""
    return [
        valgrind,
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        # Nothing but the totals is read: no per-line or per-instruction data.
        "--dump-line=no",
        "--dump-instr=no",
        "--compress-strings=no",
        *argv,
    ]


def find_valgrind() -> str | None:
    """Return the path of the ``valgrind`` executable, or None when it is not installed."""
    return shutil.which("valgrind")


Argv = Callable[[int], Sequence[str]]
"""Given a number of events, the command (without valgrind) of the child that fires them."""


def count_instructions(valgrind: str, argv: Sequence[str], *, seed: int, workdir: Path) -> int:
    """Run *argv* under callgrind with ``PYTHONHASHSEED=seed``; return its instruction count.

    Raises:
        RuntimeError: The child failed (its standard error is in the message).
    """
    with tempfile.NamedTemporaryFile(dir=workdir, prefix="callgrind.out.", delete=False) as handle:
        out_file = Path(handle.name)
    try:
        env = {**child_environment(seed), "PYTHONDONTWRITEBYTECODE": "1"}
        completed = subprocess.run(  # noqa: S603 -- valgrind and the repository's own child
            callgrind_command(valgrind, out_file, argv),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed under callgrind ({completed.returncode}):\n"
                f"{completed.stderr[-4000:]}"
            )
        return parse_callgrind(out_file.read_text(encoding="utf-8"))
    finally:
        out_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class CountJob:
    """One figure to count: a child command for a number of events, N, and a hash seed."""

    key: str
    argv: Argv
    events: int
    seed: int = 0


def count_per_event(valgrind: str, job: CountJob, workdir: Path) -> float:
    """Count *job* with N and 2N events; return its instructions per event."""
    low, high = job.events, 2 * job.events
    measured = [
        Measurement(n, count_instructions(valgrind, job.argv(n), seed=job.seed, workdir=workdir))
        for n in (low, high)
    ]
    return per_event(*measured)


def count_all(
    valgrind: str,
    jobs: Sequence[CountJob],
    *,
    parallel: int | None = None,
    progress: Callable[[str], object] | None = None,
) -> dict[str, float]:
    """Count every job (two children each, *parallel* at a time); return per-event counts by key.

    The counts do not depend on how many children run at once: only the wall
    time does.
    """
    workers = parallel or max(1, min(os.cpu_count() or 1, 4))
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="tedbench-") as tmp,
        ThreadPoolExecutor(workers) as pool,
    ):
        workdir = Path(tmp)
        futures = {job.key: pool.submit(count_per_event, valgrind, job, workdir) for job in jobs}
        for key, future in futures.items():
            results[key] = future.result()
            if progress is not None:
                progress(f"  {key}: {format_count(results[key])} instructions per event")
    return results


def python_argv(script: Path, *args: str) -> Argv:
    """A child command: this interpreter running *script* with *args* and the number of events."""

    def argv(events: int) -> list[str]:
        return [sys.executable, str(script), *args, str(events)]

    return argv

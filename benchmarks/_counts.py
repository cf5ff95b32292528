"""The count part of the report: instructions per event under callgrind, ratios and targets."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _callgrind import (
    CountJob,
    child_environment,
    count_all,
    find_valgrind,
    format_count,
    python_argv,
)
from _harness import format_ratio, markdown_table
from _peers import PEERS, VARIANTS, available
from _targets import (
    issue10_targets,
    seed_target,
    target_lines,
    tracing_target,
    variant_targets,
)

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_count_child.py"

EVENTS = {"W1": 100, "W3": 40, "W5": 200, "W7": 20}
"""N per workload (the children fire N and 2N): a few hundred million instructions at most."""

COUNTED_PEERS = {
    "W1": ("dispatcher", "original", "pyee_tw"),
    "W3": ("dispatcher", "original"),
    "W5": ("dispatcher", "original", "pyee_tw"),
}
"""The peers counted next to the dispatcher: those issue 10's targets compare it with."""

SEEDS = (0, 1, 12345)
"""W1 on the dispatcher is counted under each; every other figure under the first."""

LABELS = {
    "W1": "30 sync handlers, 3 phases",
    "W3": "30 handlers returning Deferreds fired later",
    "W5": "1 catch-all handler, no details",
}


def _key(workload: str, case: str, seed: int = SEEDS[0]) -> str:
    return f"{workload} {case}" if seed == SEEDS[0] else f"{workload} {case} seed {seed}"


def count_jobs(*, smoke: bool = False) -> list[CountJob]:
    """Every figure the count part reports, as jobs for :func:`_callgrind.count_all`."""
    jobs = []

    def add(workload: str, case: str, seed: int = SEEDS[0]) -> None:
        events = 1 if smoke else EVENTS[workload]
        argv = python_argv(CHILD, workload, case)
        jobs.append(CountJob(_key(workload, case, seed), argv, events, seed))

    for workload, peers in COUNTED_PEERS.items():
        for peer in peers:
            if available(peer):
                add(workload, peer)
    for seed in SEEDS[1:]:
        add("W1", "dispatcher", seed)
    for workload in ("W1", "W5"):
        for variant in VARIANTS:
            if variant != "plain":  # plain is the dispatcher's own figure
                add(workload, variant)
    add("W7", "json")
    return jobs


def measure_counts(*, smoke: bool, jobs: int | None) -> tuple[str, list[str]]:
    """Count every job; print the table; return the report's count part and its target lines.

    Every child first runs once without valgrind; a smoke run then counts
    only W5 on the dispatcher, with N = 1.
    """
    valgrind = find_valgrind()
    if valgrind is None:
        raise SystemExit(
            "valgrind is not installed: `make bench-count` installs Debian's package, "
            "or install valgrind yourself"
        )
    started = time.perf_counter()
    all_jobs = count_jobs(smoke=smoke)
    # Every child once, without valgrind: it proves each case runs before minutes go into
    # counting, and writes the byte code caches, so that the two counted runs of a case
    # both read them (one compiling and one reading would not subtract).
    with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
        runs = [
            pool.submit(subprocess.run, job.argv(1), check=True, env=child_environment(job.seed))
            for job in all_jobs
        ]
        for run in runs:
            run.result()  # raises CalledProcessError if a child failed
    if smoke:
        all_jobs = [job for job in all_jobs if job.key == _key("W5", "dispatcher")]
    print(
        f"  counting {len(all_jobs)} cases under callgrind (N and 2N events each)", file=sys.stderr
    )
    counts = count_all(
        valgrind, all_jobs, parallel=jobs, progress=lambda line: print(line, file=sys.stderr)
    )
    elapsed = time.perf_counter() - started
    table = render_counts(counts)
    lines = target_lines(count_targets(counts))
    print(table)
    return render_count_part(table, lines, valgrind, elapsed, smoke=smoke), lines


def _figures(counts: dict[str, float], workload: str) -> dict[str, float]:
    prefix = f"{workload} "
    return {
        key[len(prefix) :]: value
        for key, value in counts.items()
        if key.startswith(prefix) and " seed " not in key
    }


def count_targets(counts: dict[str, float]) -> list:  # type: ignore[type-arg]
    """Issue 10, 11 and 12's targets, from the counts (those that were counted)."""
    targets = issue10_targets(
        {workload: _figures(counts, workload) for workload in COUNTED_PEERS}, format_count
    )
    by_seed = {
        seed: counts[_key("W1", "dispatcher", seed)]
        for seed in SEEDS
        if _key("W1", "dispatcher", seed) in counts
    }
    if len(by_seed) > 1:
        targets.append(seed_target(by_seed, format_count))
    for workload in ("W1", "W5"):
        figures = _figures(counts, workload)
        variants = {
            name: figures[_variant(name)] for name in VARIANTS if _variant(name) in figures
        }
        if "plain" in variants and len(variants) > 1:
            targets += variant_targets(f"{workload}f", variants, format_count)
    untraced, traced = counts.get(_key("W1", "dispatcher")), counts.get(_key("W7", "json"))
    if untraced is not None and traced is not None:
        targets.append(
            tracing_target(traced, untraced, format_count, "W1, structlog unconfigured")
        )
    return targets


def _variant(name: str) -> str:
    return "dispatcher" if name == "plain" else name


def render_counts(counts: dict[str, float]) -> str:
    """The count table: the dispatcher's instructions per event, each peer's ratio and count."""
    peers = [peer for peer in PEERS if any(peer in ps for ps in COUNTED_PEERS.values())]
    peers.remove("dispatcher")
    header = ["Workload", "this dispatcher", *(PEERS[p] for p in peers), "notes"]
    rows = _peer_rows(counts, peers)
    dashes = ["—"] * len(peers)
    base = counts.get(_key("W1", "dispatcher"))
    for seed in SEEDS[1:]:
        value = counts.get(_key("W1", "dispatcher", seed))
        if value is not None and base is not None:
            rows.append(
                [
                    f"W1 under PYTHONHASHSEED={seed}",
                    format_count(value),
                    *dashes,
                    f"{format_ratio(value / base)} of PYTHONHASHSEED={SEEDS[0]}",
                ]
            )
    for workload in ("W1", "W5"):
        figures = _figures(counts, workload)
        plain = figures.get("dispatcher")
        for name in VARIANTS:
            value = figures.get(name)
            if name != "plain" and value is not None and plain is not None:
                rows.append(
                    [
                        f"{workload}f {name}",
                        format_count(value),
                        *dashes,
                        f"{format_ratio(value / plain)} of plain",
                    ]
                )
    traced = counts.get(_key("W7", "json"))
    if traced is not None and base is not None:
        rows.append(
            [
                "W7 JSON tracing on (W1's work)",
                format_count(traced),
                *dashes,
                f"{format_ratio(traced / base)} of untraced",
            ]
        )
    return markdown_table(header, rows)


def _peer_rows(counts: dict[str, float], peers: list[str]) -> list[list[str]]:
    rows = []
    for workload, counted in COUNTED_PEERS.items():
        figures = _figures(counts, workload)
        ours = figures.get("dispatcher")
        if ours is None:
            continue
        cells = []
        for peer in peers:
            theirs = figures.get(peer)
            if peer not in counted or theirs is None:
                cells.append("—")
            else:
                cells.append(f"{format_ratio(ours / theirs)} ({format_count(theirs)})")
        rows.append([f"{workload} {LABELS[workload]}", format_count(ours), *cells, ""])
    return rows


def _git(*args: str) -> str:
    try:
        completed = subprocess.run(  # noqa: S603 -- git on the repository itself
            ["git", *args],  # noqa: S607 -- whichever git is on PATH
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return completed.stdout.strip()


def commit_line() -> str:
    """Which code was counted: the commit, its subject, and whether the work tree differed."""
    commit = _git("rev-parse", "--short=12", "HEAD") or "(not a git checkout)"
    subject = _git("log", "-1", "--format=%s")
    src = _git("log", "-1", "--format=%h %s", "--", "src") or "(unknown)"
    dirty = _git("status", "--porcelain", "--", "src", "benchmarks")
    state = "with uncommitted changes to src/ or benchmarks/" if dirty else "clean"
    return (
        f"commit `{commit}` ({subject[:80]}), work tree {state}; "
        f"the package's code (src/) as of `{src[:90]}`"
    )


def render_count_part(
    table: str, lines: list[str], valgrind: str, elapsed: float, *, smoke: bool
) -> str:
    """The report's count part, from ``## Instructions per event`` to its targets."""
    version = _git_free_version(valgrind)
    parts = [
        "## Instructions per event (callgrind)",
        "",
        f"- Counted on {commit_line()}",
        (
            f"- {version}, Python {platform.python_version()}; "
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}; PYTHONHASHSEED={SEEDS[0]} unless a row "
            f"says otherwise; {os.cpu_count()} CPUs; took {elapsed:.0f} s"
        ),
        (
            "- Each case runs in its own process under `valgrind --tool=callgrind`, once "
            "firing N events and once 2N (N: "
            + ", ".join(f"{w} {n}" for w, n in EVENTS.items())
            + "); the difference over N is the cost of one event, net of start-up, imports "
            "and set-up.  The count does not depend on the machine's load.  A change of a "
            "few percent is a change in the code (or a dependency, or Python), or, while "
            "automat scans a set of transitions ordered by hashes that include a builder's "
            "address, in where objects land in memory (see the notes)."
        ),
        (
            "- Cells: the dispatcher's instructions per event; for a peer, the dispatcher's "
            "count divided by the peer's (below 1x the dispatcher runs fewer instructions), "
            "with the peer's own count in brackets."
        ),
    ]
    if smoke:
        parts += [
            "",
            (
                "**Smoke run: every child fired once without valgrind; only W5 on the "
                "dispatcher was counted, with N = 1; the figures mean little.**"
            ),
        ]
    parts += ["", table, "", "### Targets (instruction counts)", "", *lines]
    return "\n".join(parts) + "\n"


def _git_free_version(valgrind: str) -> str:
    try:
        completed = subprocess.run(  # noqa: S603 -- the valgrind found on PATH
            [valgrind, "--version"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "valgrind (version unknown)"
    return completed.stdout.strip()

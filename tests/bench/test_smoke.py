"""The benchmark's smoke run: every row once, with small sizes, so the benchmark cannot rot.

The instruction counts run every child once, and one case under callgrind.

The cluster rows (W8, W9) run against the real broker on 127.0.0.1:5672, which
``make test`` starts; they fire 50 events per case between two processes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_row_and_target_is_reported(tmp_path: Path) -> None:
    """A smoke run of the benchmark writes a report with every workload's row and every target."""
    output = tmp_path / "results.md"
    completed = subprocess.run(  # noqa: S603 -- this interpreter, the repository's own script
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--output", str(output)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    report = output.read_text(encoding="utf-8")
    assert "Smoke run" in report
    for row in (
        "| W1 ",
        "| W2 ",
        "| W3 ",
        "| W4 ",
        "| W4u ",
        "| W5 ",
        "| W6 ",
        "| W6r ",
        "| W6m ",
    ):
        assert row in report, row
    assert report.count("| W7 ") == 4
    # Issue 11's features present but unused, next to plain registrations.
    for variant in ("plain", "features", "cleanup"):
        assert f"| W1f 30 sync handlers, 3 phases, {variant} " in report, variant
        assert f"| W5f 1 catch-all handler, no details, {variant} " in report, variant
    # The instruction counts: every child ran; the smoke run counts W5 on the dispatcher.
    counts = report.split("## Instructions per event (callgrind)", 1)[1]
    assert "Counted on commit `" in counts
    assert re.search(r"\| W5 1 catch-all handler, no details +\| [\d.]+[kM]? ", counts), counts
    # The cluster: a work queue, broadcast and pika alone for each, at once and paced;
    # two routing modes at three numbers of bound specs.
    assert report.count("| W8 ") == 8
    assert report.count("| W9 topic, ") == 3
    assert report.count("| W9 headers, ") == 3
    for line in report.splitlines():
        if line.startswith(("| W8 ", "| W9 ")):
            assert re.search(r"\| [\d,]+/s ", line), line  # a rate was measured
    targets = [line for line in report.splitlines() if line.startswith("- W") and "**" in line]
    # Local: W1 (2), W3, W5, W4 (2), W6 (2), W7 (2), W1f (2), W5f (2); cluster: 4.
    assert len(targets) == 18
    assert all("**met**" in line or "**missed**" in line for line in targets)
    assert "| W1 " in completed.stdout
    assert "| W8 " in completed.stdout

"""The OpenTelemetry benchmark's smoke run: every case once, so the script cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_case_is_reported() -> None:
    """A smoke run of benchmarks/otel.py prints a row per case."""
    completed = subprocess.run(  # noqa: S603 -- this interpreter, the repository's own script
        [sys.executable, str(ROOT / "benchmarks" / "otel.py"), "--smoke"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    for case in (
        "| untraced ",
        "| spans, batch processor ",
        "| spans, simple processor ",
        "| handler events, batch processor ",
    ):
        assert case in completed.stdout, case

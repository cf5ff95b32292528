"""Handlers on the asyncio reactor, run for real in a subprocess (examples/asyncio_handlers.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PROGRAM = ROOT / "examples" / "asyncio_handlers.py"


@pytest.fixture(scope="module")
def printed() -> list[str]:
    """Run the how-to's program on a real asyncio reactor and return what it printed."""
    result = subprocess.run(  # noqa: S603 -- our own interpreter and program
        [sys.executable, str(PROGRAM)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_async_handlers_await_asyncio_and_deferreds(printed: list[str]) -> None:
    """An async def handler awaits asyncio.sleep and a Task, another a Deferred and asyncio."""
    assert "asyncio: slept in during, task=True" in printed
    assert "twisted: deferLater, then ready" in printed


def test_each_handler_settles_with_its_result(printed: list[str]) -> None:
    """Coroutines and a returned asyncio future are awaited: their results are recorded."""
    outcomes = [line for line in printed if line.startswith("outcome ")]
    assert outcomes == [
        "outcome waits_with_asyncio: succeeded 'asyncio'",
        "outcome waits_with_twisted: succeeded 'twisted'",
        "outcome returns_a_future: succeeded 'future'",
        "outcome too_slow: timed_out None",
    ]
    assert printed[-1] == "run: completed"


def test_a_timeout_cancels_the_handlers_task(printed: list[str]) -> None:
    """A handler's timeout cancels its asyncio Task: asyncio.CancelledError reaches it."""
    assert "too_slow: cancelled by its timeout" in printed

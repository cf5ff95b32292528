"""The runtime's fallback output while structlog is unconfigured: plain, bounded, no locals.

These tests read the rendered standard error on purpose: what is printed (and how much)
is the behaviour under test, not the records.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from twisted_event_dispatcher.testing import dispatcher_on_clock
from twisted_event_dispatcher.tracing._logger import (
    FALLBACK_TRACEBACK_LINES,
    FALLBACK_VALUE_LIMIT,
    bound_values,
    bounded_str,
)

SECRET = "hunter2-do-not-print"  # noqa: S105 -- the secret that must not be printed


def _fail_in_handler(message: str) -> None:
    """Fire one event at a handler that holds a secret in a local and raises *message*."""
    assert not structlog.is_configured()
    dispatcher, _ = dispatcher_on_clock(("kind",))

    def login(event: Any) -> None:
        password = SECRET
        if password:
            raise ValueError(message)

    dispatcher.add_event_handler(login, "during", False, kind="login")
    dispatcher.fire_event("login", kind="login")


def test_rich_is_installed() -> None:
    """The dev extra installs rich, so these tests run where structlog would use it."""
    assert importlib.import_module("rich").__name__ == "rich"


def test_fallback_traceback_shows_no_locals(capsys: pytest.CaptureFixture[str]) -> None:
    """A handler failure prints a plain traceback without the handler's local variables."""
    _fail_in_handler("bad credentials")
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err
    assert "ValueError: bad credentials" in err
    assert "handler_settled" in err
    assert SECRET not in err
    assert "╭" not in err  # no rich panel


def test_fallback_bounds_a_huge_exception_message(capsys: pytest.CaptureFixture[str]) -> None:
    """A 10 MB exception message prints as a bounded excerpt, in the record and the traceback."""
    _fail_in_handler("x" * 10_000_000)
    err = capsys.readouterr().err
    assert len(err) < 10 * FALLBACK_VALUE_LIMIT + 5_000
    assert "ValueError: xxxx" in err
    assert f"({10_000_000 - FALLBACK_VALUE_LIMIT} more characters)" in err


def test_fallback_bounds_a_deep_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """A traceback of thousands of distinct lines is cut to its first and innermost lines."""
    assert not structlog.is_configured()
    dispatcher, _ = dispatcher_on_clock(("kind",))

    def deep(event: Any) -> None:
        raise ValueError("\n".join(f"line {n}" for n in range(5_000)))

    dispatcher.add_event_handler(deep, "during", False, kind="deep")
    dispatcher.fire_event("deep", kind="deep")
    err = capsys.readouterr().err
    assert len(err.splitlines()) < FALLBACK_TRACEBACK_LINES + 10
    assert "lines omitted" in err
    assert "line 4999" in err


class _RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class _HugeRepr:
    def __repr__(self) -> str:
        return "<" + "y" * 1_000_000 + ">"


def test_bound_values_never_raises_and_bounds_every_value() -> None:
    """The fallback's processor turns every value into a bounded text, whatever its repr does."""
    record: dict[str, Any] = {
        "event": "e" * 100_000,
        "raising": _RaisingRepr(),
        "huge": _HugeRepr(),
        "digits": 10**5000,
        "nested": [[[[[[["deep"]]]]]]],
        "items": list(range(100_000)),
    }
    exc_info = (ValueError, ValueError("kept"), None)
    record["exc_info"] = exc_info
    bounded = bound_values(None, "error", record)
    assert bounded["exc_info"] is exc_info
    for key in ("event", "raising", "huge", "digits", "nested", "items"):
        assert len(repr(bounded[key])) <= FALLBACK_VALUE_LIMIT + 40, key
    assert "_RaisingRepr" in repr(bounded["raising"])
    assert "..." in repr(bounded["nested"])


class _RaisingStr(_RaisingRepr):
    def __str__(self) -> str:
        raise RuntimeError("no str either")


def test_bounded_str_never_raises() -> None:
    """bounded_str cuts long text, and names the type when str() raises."""
    assert bounded_str("s" * 5_000) == "s" * FALLBACK_VALUE_LIMIT + "… (3000 more characters)"
    assert bounded_str(_RaisingStr()) == "<unprintable _RaisingStr object>"


def test_configured_structlog_gets_records_untouched() -> None:
    """Once the application configures structlog, records reach it whole, exc_info included."""
    with capture_logs() as records:
        dispatcher, _ = dispatcher_on_clock(("kind",))

        def fail(event: Any) -> None:
            raise ValueError("m" * 50_000)

        dispatcher.add_event_handler(fail, "during", False, kind="k")
        dispatcher.fire_event("k", kind="k")
    (settled,) = [r for r in records if r["event"] == "handler_settled"]
    assert settled["exception_message"] == "m" * 50_000
    assert settled["exc_info"][0] is ValueError

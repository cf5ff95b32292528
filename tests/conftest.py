"""Shared pytest configuration: structlog reset after every test, and a quiet variant."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Reset structlog after each test, so one test's configuration never leaks into another."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def quiet_structlog() -> Iterator[None]:
    """Configure structlog to drop every record below CRITICAL, cheaply, for the test's length.

    Handler failures are logged at error level and collected weak handlers at
    warning level: at soak scale they would flood standard error.
    """
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
        cache_logger_on_first_use=True,
    )
    yield
    structlog.reset_defaults()

"""Shared pytest configuration: every test starts with structlog unconfigured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Reset structlog after each test, so one test's configuration never leaks into another."""
    yield
    structlog.reset_defaults()

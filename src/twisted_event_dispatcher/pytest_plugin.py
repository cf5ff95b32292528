"""A pytest plugin with fixtures for testing code that uses an event dispatcher.

Installed with the package (entry point ``pytest11``), so its fixtures are
available in every test session that has twisted_event_dispatcher installed:

- ``ted_dispatcher``: a factory, called as
  :func:`~twisted_event_dispatcher.testing.dispatcher_on_clock` is, that
  returns a started dispatcher on a fresh :class:`~twisted.internet.task.Clock`
  and that clock.
- ``ted_trace``: the :class:`~twisted_event_dispatcher.testing.Trace` of
  every record emitted during the test; pass it to
  :func:`~twisted_event_dispatcher.testing.assert_run_completed` so a failing
  assertion prints the run as ``tedtool trace`` does.

.. versionadded:: 1.2
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twisted.internet.task import Clock

from twisted_event_dispatcher.runtime._dispatcher import EventDispatcher
from twisted_event_dispatcher.testing import Trace, capture_trace, dispatcher_on_clock

__all__ = ["ted_dispatcher", "ted_trace"]


@pytest.fixture
def ted_dispatcher() -> Callable[..., tuple[EventDispatcher, Clock]]:
    """Return :func:`~twisted_event_dispatcher.testing.dispatcher_on_clock`, as a fixture."""

    def make(*args: Any, **options: Any) -> tuple[EventDispatcher, Clock]:
        return dispatcher_on_clock(*args, **options)

    return make


@pytest.fixture
def ted_trace() -> Iterator[Trace]:
    """Capture every trace record emitted during the test.

    See :func:`~twisted_event_dispatcher.testing.capture_trace`.
    """
    with capture_trace() as trace:
        yield trace

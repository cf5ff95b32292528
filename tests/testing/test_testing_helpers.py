"""twisted_event_dispatcher.testing: Clock-driven dispatchers and captured traces."""

from __future__ import annotations

import doctest
import io
from typing import Any

import pytest
import structlog
from twisted.internet import task
from twisted.internet.defer import Deferred

import twisted_event_dispatcher.testing
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.testing import (
    advance_until_fired,
    capture_trace,
    dispatcher_on_clock,
    fire_and_settle,
    result_of,
)
from twisted_event_dispatcher.tracing import configure_tracing


class Handlers:
    """Handlers for a user-creation story, one per phase; the async one waits on the clock."""

    def __init__(self, clock: task.Clock) -> None:
        self.clock = clock
        self.log: list[str] = []

    def validate(self, event: str) -> None:
        """Refuse the empty name."""
        if not event:
            raise ValueError("empty name")
        self.log.append(f"validated {event}")

    def persist(self, event: str) -> Deferred[None]:
        """Store, one second later."""
        return task.deferLater(self.clock, 1.0, self.log.append, f"stored {event}")

    async def notify(self, event: str) -> None:
        """Notify, two seconds later."""
        await task.deferLater(self.clock, 2.0)
        self.log.append(f"notified {event}")


def story() -> tuple[EventDispatcher, task.Clock, Handlers]:
    """A started Clock dispatcher with the three handlers registered."""
    dispatcher, clock = dispatcher_on_clock(("event_type",), on_handler_error="abort")
    handlers = Handlers(clock)
    dispatcher.add_event_handler(handlers.validate, "before", event_type="user_created")
    dispatcher.add_event_handler(handlers.persist, "during", event_type="user_created")
    dispatcher.add_event_handler(handlers.notify, "after")
    return dispatcher, clock, handlers


def test_fire_and_settle_advances_the_clock_to_the_end_of_the_run() -> None:
    """fire_and_settle returns the ended run after exactly the clock time its handlers took."""
    dispatcher, clock, handlers = story()
    run = fire_and_settle(dispatcher, "bob", event_type="user_created")
    assert run.status == "completed"
    assert handlers.log == ["validated bob", "stored bob", "notified bob"]
    assert clock.seconds() == 3.0
    assert [o.duration for o in run.outcomes] == [0.0, 1.0, 2.0]


def test_capture_trace_records_calls_phases_and_statuses() -> None:
    """A captured trace tells which handlers ran for which run, in which phase, and how."""
    dispatcher, _, _ = story()
    with capture_trace() as trace:
        good = fire_and_settle(dispatcher, "bob", event_type="user_created")
        bad = fire_and_settle(dispatcher, "", event_type="user_created")
    assert trace.run_ids() == [good.run_id, bad.run_id]
    calls = [
        (c.run_id, c.phase, c.handler_name.rsplit(".", 1)[-1], c.status) for c in trace.calls()
    ]
    assert calls == [
        (good.run_id, "before", "validate", "succeeded"),
        (good.run_id, "during", "persist", "succeeded"),
        (good.run_id, "after", "notify", "succeeded"),
        (bad.run_id, "before", "validate", "failed"),
    ]
    assert trace.calls(bad.run_id)[0].details == {"event_type": "'user_created'"}
    assert trace.calls(bad.run_id)[0].event_type == "str"
    assert trace.statuses() == {good.run_id: "completed", bad.run_id: "aborted"}
    assert trace.transitions(bad.run_id) == [
        ("waiting", "begin", "phase:before"),
        ("phase:before", "phase_failed", "aborted"),
    ]
    assert len(trace) == len(list(trace)) == len(trace.records)
    assert trace.named("run_ended")[0]["run_id"] == good.run_id
    assert all(r.get("run_id") == good.run_id for r in trace.of_run(good.run_id))
    assert repr(trace) == f"<Trace of {len(trace)} records>"


def test_trace_calls_puts_a_call_before_the_runs_it_fired() -> None:
    """Trace.calls lists a call before the calls of the child runs it fired, waiting or not."""
    dispatcher, _ = dispatcher_on_clock(("kind",))
    waiting: Deferred[None] = Deferred()

    def parent(event: object) -> None:
        dispatcher.fire_event("child", kind="child")

    def slow_parent(event: object) -> Deferred[None]:
        dispatcher.fire_event("child", kind="child")
        return waiting

    def child(event: object) -> None:
        dispatcher.fire_event("grandchild", kind="grandchild")

    def grandchild(event: object) -> None:
        pass

    for handler, kind in [
        (parent, "parent"),
        (slow_parent, "slow"),
        (child, "child"),
        (grandchild, "grandchild"),
    ]:
        dispatcher.add_event_handler(handler, "during", False, kind=kind)
    with capture_trace() as trace:
        first = fire_and_settle(dispatcher, "p", kind="parent")
        second = dispatcher.fire_event("s", kind="slow")
        waiting.callback(None)
    names = [(c.handler_name.rsplit(".", 1)[-1], c.status) for c in trace.calls()]
    assert names == [
        (top, "succeeded")
        for parent_name in ("parent", "slow_parent")
        for top in (parent_name, "child", "grandchild")
    ]
    assert [c.handler_name.rsplit(".", 1)[-1] for c in trace.calls(first.run_id)] == ["parent"]
    assert result_of(second).status == "completed"


def test_capture_trace_sees_dropped_runs_and_pending_calls() -> None:
    """Dropped runs count as dropped, and a call still pending has no status."""
    dispatcher, _ = dispatcher_on_clock(("kind",), start=False)
    waiting: Deferred[None] = Deferred()

    def slow(event: object) -> Deferred[None]:
        return waiting

    dispatcher.add_event_handler(slow, "during")
    with capture_trace() as trace:
        dropped = fire_and_settle(dispatcher, "e", kind="a")
        dispatcher.start()
        dispatcher.fire_event("e", kind="a")
    assert trace.statuses() == {dropped.run_id: "dropped"}
    assert [c.status for c in trace.calls()] == [None]
    waiting.callback(None)


def test_capture_trace_restores_structlog_and_tracing() -> None:
    """After the block, structlog's configuration and configure_tracing are as they were."""
    structlog.configure(processors=[structlog.processors.KeyValueRenderer()])
    before = structlog.get_config()
    stream = io.StringIO()
    dispatcher, _ = dispatcher_on_clock(("kind",))
    with configure_tracing(stream):
        with capture_trace() as trace:
            fire_and_settle(dispatcher, "e", kind="a")
        assert stream.getvalue() == ""
        fire_and_settle(dispatcher, "e", kind="a")
        assert '"run_created"' in stream.getvalue()
    assert trace.named("run_created")
    assert structlog.get_config() == before
    assert structlog.is_configured()


def test_capture_trace_leaves_structlog_unconfigured() -> None:
    """When structlog was not configured before, it is not configured after."""
    assert not structlog.is_configured()
    with capture_trace():
        assert structlog.is_configured()
    assert not structlog.is_configured()


def test_advance_until_fired_reports_what_it_cannot_drive() -> None:
    """Advancing fails clearly when nothing or nothing soon fires, and re-raises a failure."""
    clock = task.Clock()
    with pytest.raises(AssertionError, match="nothing is scheduled"):
        advance_until_fired(clock, Deferred())
    with pytest.raises(AssertionError, match="within 5"):
        advance_until_fired(clock, task.deferLater(clock, 10.0), limit=5.0)

    def boom() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        advance_until_fired(clock, task.deferLater(clock, 1.0, boom))
    assert advance_until_fired(clock, task.deferLater(clock, 1.0, lambda: 7)) == 7


def test_helpers_refuse_a_real_reactor() -> None:
    """fire_and_settle needs a Clock, and dispatcher_on_clock makes its own."""
    from twisted.internet.testing import MemoryReactor

    not_a_clock: Any = MemoryReactor
    dispatcher = EventDispatcher(("kind",), reactor=not_a_clock())
    with pytest.raises(TypeError, match=r"task\.Clock"):
        fire_and_settle(dispatcher, "e", kind="a")
    with pytest.raises(TypeError, match="reactor="):
        dispatcher_on_clock(("kind",), reactor=task.Clock())


def test_module_examples() -> None:
    """The examples in the testing module's docstring pass."""
    failed, attempted = doctest.testmod(twisted_event_dispatcher.testing)
    assert (failed, attempted) == (0, attempted)
    assert attempted > 0


def test_result_of_takes_out_a_fired_result() -> None:
    """result_of returns a success, leaves it for later callbacks, and raises a failure."""
    fired: Deferred[int] = Deferred()
    fired.callback(3)
    assert result_of(fired) == 3
    assert result_of(fired) == 3
    failed: Deferred[int] = Deferred()
    failed.errback(KeyError("gone"))
    with pytest.raises(KeyError, match="gone"):
        result_of(failed)
    with pytest.raises(AssertionError, match="not fired yet"):
        result_of(Deferred())

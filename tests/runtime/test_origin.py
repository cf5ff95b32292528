"""Runs fired on behalf of another process, the current call, and run id prefixes."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred

from support import Recorder, add, fire, result_of, started
from twisted_event_dispatcher import CurrentCall, EventDispatcher, RunOrigin, current_call
from twisted_event_dispatcher.testing import capture_trace


def test_fire_event_from_records_the_origin() -> None:
    """A run fired from another process carries its origin and names the firing run as parent."""
    dispatcher, _ = started("kind")
    recorder = Recorder()
    add(dispatcher, recorder.sync("h"), "during", kind="order")
    origin = RunOrigin("node-a", run_id="a-7", handler_id=None, handler_name="shop.place")
    with capture_trace() as trace:
        run = result_of(dispatcher.fire_event_from(origin, "e", kind="order"))
    assert run.origin == origin
    assert run.parent_run_id == "a-7"
    assert recorder.names() == ["h"]
    [created] = trace.named("run_created")
    assert created["parent_run_id"] == "a-7"
    assert created["origin_node"] == "node-a"
    assert created["parent_handler_name"] == "shop.place"


def test_fire_event_from_inside_a_handler_is_not_a_child() -> None:
    """An event fired from elsewhere, even while a local handler runs, has only its origin."""
    dispatcher, _ = started("kind")
    runs: list[Deferred[Any]] = []
    origin = RunOrigin("node-b")

    def relay(event: object) -> None:
        runs.append(dispatcher.fire_event_from(origin, "inner", kind="inner"))

    add(dispatcher, relay, "during", kind="outer")
    result_of(fire(dispatcher, kind="outer"))
    inner = result_of(runs[0])
    assert inner.origin == origin
    assert inner.parent_run_id is None


def test_fire_event_from_refuses_other_origins() -> None:
    """Anything but a RunOrigin is refused, with its type named."""
    dispatcher, _ = started("kind")
    with pytest.raises(TypeError, match="origin must be a RunOrigin; got dict"):
        dispatcher.fire_event_from({"node": "x"}, "e")  # type: ignore[arg-type]


def test_origin_may_be_a_match_keyword() -> None:
    """The origin is positional-only, so 'origin' stays free as a match keyword."""
    dispatcher, _ = started("origin")
    recorder = Recorder()
    add(dispatcher, recorder.sync("h"), "during", origin="web")
    run = result_of(dispatcher.fire_event_from(RunOrigin("n"), "e", origin="web"))
    assert recorder.names() == ["h"]
    assert run.details == {"origin": "web"}


def test_current_call_describes_the_handler_call() -> None:
    """Inside a handler, current_call() names its run, phase, handler and details."""
    dispatcher, _ = started("kind")
    seen: list[CurrentCall | None] = []

    def look(event: object) -> None:
        seen.append(current_call())

    handler_id = add(dispatcher, look, "after", kind="k")
    run = result_of(fire(dispatcher, kind="k"))
    [call] = seen
    assert call is not None
    assert (call.run_id, call.parent_run_id, call.phase) == (run.run_id, None, "after")
    assert call.handler_id == handler_id
    assert call.handler_name.endswith(look.__qualname__)
    assert dict(call.details) == {"kind": "k"}
    assert call.origin is None
    assert current_call() is None


def test_current_call_in_a_coroutine_and_a_remote_run() -> None:
    """A handler's coroutine sees its call after an await, with the run's origin."""
    dispatcher, _ = started("kind")
    seen: list[CurrentCall | None] = []
    gate: Deferred[None] = Deferred()

    async def look(event: object) -> None:
        await gate
        seen.append(current_call())

    add(dispatcher, look, "during")
    origin = RunOrigin("node-c", run_id="c-1")
    fired = dispatcher.fire_event_from(origin, "e", kind="k")
    gate.callback(None)
    run = result_of(fired)
    [call] = seen
    assert call is not None
    assert call.origin == origin
    assert call.parent_run_id == "c-1"
    assert call.run_id == run.run_id


def test_run_id_prefix() -> None:
    """Run ids start with the given prefix; a bad prefix is refused by name."""
    dispatcher = EventDispatcher((), run_id_prefix="node-a.1f")
    dispatcher.start()
    assert result_of(dispatcher.fire_event("e")).run_id == "node-a.1f-1"
    for bad in ("", "has space", 7):
        with pytest.raises(ValueError, match="run_id_prefix must be") as info:
            EventDispatcher((), run_id_prefix=bad)  # type: ignore[arg-type]
        assert repr(bad) in str(info.value)

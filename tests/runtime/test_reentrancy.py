"""Rules 8-12: ordering, re-entrancy, registration changes during runs, max_calls, keywords."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater

from support import Recorder, TestCase, add, fire, result_of, started
from twisted_event_dispatcher import EventDispatcher, EventRun, HandlerId, UnknownHandlerError


class OrderingTests(TestCase):
    """Rule 8: serial runs one at a time in fire order; concurrent runs overlap."""

    def test_serial_waits_its_turn(self) -> None:
        """A serial run fired while another is in flight starts only after it ends."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        first = fire(dispatcher, "first")
        second = fire(dispatcher, "second")
        third = fire(dispatcher, "third")
        assert recorder.calls == [("h", "first")]
        recorder.pending["h"][0].callback(None)
        self.successResultOf(first)
        assert recorder.calls == [("h", "first"), ("h", "second")]
        self.assertNoResult(third)
        recorder.pending["h"][1].callback(None)
        recorder.pending["h"][2].callback(None)
        self.successResultOf(second)
        self.successResultOf(third)
        assert [event for _, event in recorder.calls] == ["first", "second", "third"]

    def test_concurrent_overlaps(self) -> None:
        """Concurrent runs all start at once and end in whatever order they settle."""
        dispatcher, _ = started(ordering="concurrent")
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        first = fire(dispatcher, "first")
        second = fire(dispatcher, "second")
        assert [event for _, event in recorder.calls] == ["first", "second"]
        recorder.pending["h"][1].callback(None)
        self.successResultOf(second)
        self.assertNoResult(first)
        recorder.pending["h"][0].callback(None)
        self.successResultOf(first)

    def test_long_serial_backlog_does_not_recurse(self) -> None:
        """Thousands of queued serial runs drain in a loop, not by recursion."""
        dispatcher, _ = started()
        recorder = Recorder()
        gate: Deferred[None] = Deferred()
        keep = [lambda _e: gate]
        add(dispatcher, keep[0], "before", max_calls=1)
        add(dispatcher, recorder.sync("h"), "during")
        first = fire(dispatcher, -1)
        runs = [fire(dispatcher, n) for n in range(5000)]
        gate.callback(None)
        self.successResultOf(first)
        assert all(self.successResultOf(run).status == "completed" for run in runs)
        assert len(recorder.calls) == 5001


class ChildRunTests(TestCase):
    """Rule 9: an event fired from inside a handler is a child run that starts at once."""

    def test_sync_child_starts_at_once(self) -> None:
        """A child fired by a sync handler runs before the handler returns, in serial mode."""
        dispatcher, _ = started("kind")
        recorder = Recorder()
        children: list[Deferred[EventRun]] = []

        def parent(event: object) -> None:
            children.append(dispatcher.fire_event("child", kind="child"))
            recorder.calls.append(("parent-after-fire", event))

        add(dispatcher, parent, "during", kind="parent")
        add(dispatcher, recorder.sync("child-handler"), "during", kind="child")
        run = self.successResultOf(fire(dispatcher, "p", kind="parent"))
        assert recorder.names() == ["child-handler", "parent-after-fire"]
        child = self.successResultOf(children[0])
        assert child.parent_run_id == run.run_id

    def test_handler_waits_for_child(self) -> None:
        """A handler that returns its child's Deferred waits for it without deadlock."""
        dispatcher, _ = started("kind")
        recorder = Recorder()

        def parent(event: object) -> Deferred[EventRun]:
            return dispatcher.fire_event("child", kind="child")

        add(dispatcher, parent, "during", kind="parent")
        add(dispatcher, recorder.deferred("slow-child"), "during", kind="child")
        d = fire(dispatcher, "p", kind="parent")
        self.assertNoResult(d)
        recorder.pending["slow-child"][0].callback(None)
        run = self.successResultOf(d)
        child_run = run.outcomes[0].result
        assert isinstance(child_run, EventRun)
        assert child_run.parent_run_id == run.run_id

    def test_async_def_child_at_depth(self) -> None:
        """An async handler awaiting a child that awaits a grandchild never deadlocks."""
        dispatcher, clock = started("depth")
        seen: list[tuple[int, str | None]] = []

        async def handler(event: int) -> None:
            await deferLater(clock, 1.0)
            if event < 3:
                run = await dispatcher.fire_event(event + 1, depth=event + 1)
                seen.append((run.event, run.parent_run_id))

        for depth in range(4):
            add(dispatcher, handler, "during", depth=depth)
        d = fire(dispatcher, 0, depth=0)
        for _ in range(4):
            clock.advance(1.0)
        top = self.successResultOf(d)
        assert [event for event, _ in seen] == [3, 2, 1]
        assert all(parent is not None for _, parent in seen)
        assert seen[-1][1] == top.run_id

    def test_inline_callbacks_child(self) -> None:
        """An inlineCallbacks handler firing after a yield still makes a child run."""
        dispatcher, clock = started("kind")
        parents: list[str | None] = []

        @inlineCallbacks
        def parent(event: object) -> Any:
            yield deferLater(clock, 1.0)
            child = yield dispatcher.fire_event("c", kind="child")
            parents.append(child.parent_run_id)

        add(dispatcher, parent, "during", kind="parent")
        d = fire(dispatcher, "p", kind="parent")
        other = fire(dispatcher, "queued", kind="other")
        clock.advance(1.0)
        run = self.successResultOf(d)
        assert parents == [run.run_id]
        assert self.successResultOf(other).parent_run_id is None

    def test_child_while_stopping_still_runs(self) -> None:
        """A child fired by a run that is draining after stop() runs, so stop() can finish."""
        dispatcher, _ = started("kind")
        recorder = Recorder()

        def parent(event: object) -> Deferred[EventRun]:
            stopped.append(dispatcher.stop())
            return dispatcher.fire_event("c", kind="child")

        stopped: list[Deferred[None]] = []
        add(dispatcher, parent, "during", kind="parent")
        add(dispatcher, recorder.deferred("child"), "during", kind="child")
        d = fire(dispatcher, "p", kind="parent")
        assert recorder.names() == ["child"]
        self.assertNoResult(stopped[0])
        recorder.pending["child"][0].callback(None)
        assert self.successResultOf(d).status == "completed"
        self.successResultOf(stopped[0])


class RegistrationDuringRunTests(TestCase):
    """Rule 10: add and remove take effect at once."""

    def test_add_and_remove_deferreds_are_fired(self) -> None:
        """add_event_handler and remove_event_handler return already-fired Deferreds."""
        dispatcher, _ = started()
        recorder = Recorder()
        handler_id = self.successResultOf(
            dispatcher.add_event_handler(recorder.sync("h"), "during")
        )
        assert self.successResultOf(dispatcher.remove_event_handler(handler_id)) is None

    def test_removed_during_run_not_called_later(self) -> None:
        """A handler removed while a run is in flight is not called in that run's later phases."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("gate"), "before")
        later = add(dispatcher, recorder.sync("later"), "after")
        d = fire(dispatcher)
        self.successResultOf(dispatcher.remove_event_handler(later))
        recorder.pending["gate"][0].callback(None)
        self.successResultOf(d)
        assert recorder.names() == ["gate"]

    def test_added_during_run_called_by_later_run(self) -> None:
        """A handler added during a run is first called by a later run."""
        dispatcher, _ = started()
        recorder = Recorder()
        late = recorder.sync("late")

        def adder(event: object) -> None:
            result_of(dispatcher.add_event_handler(late, "after"))

        add(dispatcher, adder, "before", max_calls=1)
        self.successResultOf(fire(dispatcher, "first"))
        assert recorder.calls == []
        self.successResultOf(fire(dispatcher, "second"))
        assert recorder.calls == [("late", "second")]

    def test_added_to_same_phase_not_called(self) -> None:
        """A handler added to the current phase during a run is not called by that run."""
        dispatcher, _ = started()
        recorder = Recorder()
        late = recorder.sync("late")

        def adder(event: object) -> None:
            result_of(dispatcher.add_event_handler(late, "before"))

        add(dispatcher, adder, "before", max_calls=1)
        self.successResultOf(fire(dispatcher))
        assert recorder.calls == []

    def test_removing_itself_skips_no_one(self) -> None:
        """A handler that removes itself during its call never makes another handler skip."""
        dispatcher, _ = started()
        recorder = Recorder()
        ids: list[HandlerId] = []

        def remover(event: object) -> None:
            recorder.calls.append(("remover", event))
            self.successResultOf(dispatcher.remove_event_handler(ids[0]))

        ids.append(add(dispatcher, remover, "during"))
        add(dispatcher, recorder.sync("next"), "during")
        add(dispatcher, recorder.sync("last"), "during")
        self.successResultOf(fire(dispatcher, 1))
        self.successResultOf(fire(dispatcher, 2))
        assert recorder.calls == [
            ("remover", 1),
            ("next", 1),
            ("last", 1),
            ("next", 2),
            ("last", 2),
        ]

    def test_removing_a_neighbour(self) -> None:
        """A handler that removes a later neighbour stops only that neighbour; others still run."""
        dispatcher, _ = started()
        recorder = Recorder()
        ids: list[HandlerId] = []

        def remover(event: object) -> None:
            self.successResultOf(dispatcher.remove_event_handler(ids[0]))

        add(dispatcher, remover, "during")
        ids.append(add(dispatcher, recorder.sync("neighbour"), "during"))
        add(dispatcher, recorder.sync("last"), "during")
        self.successResultOf(fire(dispatcher))
        assert recorder.names() == ["last"]

    def test_remove_unknown(self) -> None:
        """Removing an id never registered fails with UnknownHandlerError, a KeyError."""
        dispatcher, _ = started()
        failure = self.failureResultOf(
            dispatcher.remove_event_handler(HandlerId(999)), UnknownHandlerError
        )
        assert isinstance(failure.value, KeyError)
        assert "no handler is registered with id 999" in str(failure.value)

    def test_remove_twice(self) -> None:
        """Removing an id a second time fails with UnknownHandlerError."""
        dispatcher, _ = started()
        recorder = Recorder()
        handler_id = add(dispatcher, recorder.sync("h"), "during")
        self.successResultOf(dispatcher.remove_event_handler(handler_id))
        self.failureResultOf(dispatcher.remove_event_handler(handler_id), UnknownHandlerError)


class MaxCallsTests(TestCase):
    """Rule 11: max_calls=N calls a handler exactly N times, then removes it."""

    def test_exactly_n_calls(self) -> None:
        """A handler with max_calls=2 is called twice, then removed."""
        dispatcher, _ = started()
        recorder = Recorder()
        handler_id = add(dispatcher, recorder.sync("h"), "during", max_calls=2)
        for n in range(4):
            self.successResultOf(fire(dispatcher, n))
        assert recorder.calls == [("h", 0), ("h", 1)]
        assert dispatcher.handlers() == []
        self.failureResultOf(dispatcher.remove_event_handler(handler_id), UnknownHandlerError)

    def test_exactly_n_calls_reentrant(self) -> None:
        """Events fired from inside a max_calls handler do not call it beyond N."""
        dispatcher, _ = started()
        calls: list[object] = []

        def handler(event: int) -> None:
            calls.append(event)
            if event < 5:
                dispatcher.fire_event(event + 1)

        add(dispatcher, handler, "during", max_calls=3)
        self.successResultOf(fire(dispatcher, 0))
        assert calls == [0, 1, 2]

    def test_registration_record_counts_calls(self) -> None:
        """The registration record shows max_calls and the calls made so far."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during", max_calls=3)
        fire(dispatcher)
        [record] = dispatcher.handlers()
        assert (record.max_calls, record.calls, record.weak) == (3, 1, True)


class KeywordTests(TestCase):
    """Rule 12: match keywords can be added and, when unused, removed."""

    def test_add_keyword(self) -> None:
        """A keyword added after construction can be used by specs and details."""
        dispatcher, _ = started("a")
        recorder = Recorder()
        dispatcher.add_match_spec_keyword("b")
        dispatcher.add_match_spec_keyword("b")
        assert dispatcher.match_spec_keywords == ("a", "b")
        add(dispatcher, recorder.sync("h"), "during", b=1)
        self.successResultOf(fire(dispatcher, b=1))
        assert recorder.names() == ["h"]

    def test_add_bad_keyword(self) -> None:
        """Adding a reserved or malformed keyword raises ValueError."""
        dispatcher, _ = started()
        with pytest.raises(ValueError, match="'phase' cannot be a match keyword"):
            dispatcher.add_match_spec_keyword("phase")
        with pytest.raises(ValueError, match="valid Python identifier"):
            dispatcher.add_match_spec_keyword("1x")

    def test_remove_keyword_in_use(self) -> None:
        """Removing a keyword a registered spec uses raises ValueError naming the handler."""
        dispatcher, _ = started("a")
        recorder = Recorder()
        handler_id = add(dispatcher, recorder.sync("user_of_a"), "during", a=1)
        with pytest.raises(ValueError, match=r"cannot remove match keyword 'a'.*user_of_a"):
            dispatcher.remove_match_spec_keyword("a")
        self.successResultOf(dispatcher.remove_event_handler(handler_id))
        dispatcher.remove_match_spec_keyword("a")
        assert dispatcher.match_spec_keywords == ()
        with pytest.raises(ValueError, match="'a' is not an allowed match keyword"):
            dispatcher.fire_event("e", a=1)

    def test_remove_unknown_keyword(self) -> None:
        """Removing a keyword that is not allowed raises ValueError listing the allowed."""
        dispatcher, _ = started("a")
        with pytest.raises(ValueError, match=r"'b' is not an allowed match keyword; allowed: 'a'"):
            dispatcher.remove_match_spec_keyword("b")

    def test_wildcard_spec_does_not_hold_keyword(self) -> None:
        """A spec that names a keyword only as a wildcard does not prevent its removal."""
        dispatcher, _ = started("a")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during", a=None)
        dispatcher.remove_match_spec_keyword("a")
        self.successResultOf(fire(dispatcher))
        assert recorder.names() == ["h"]


def test_queued_run_rematches_after_changes() -> None:
    """A run waiting its serial turn matches the handlers registered when it begins."""
    clock_dispatcher, _ = started("k")
    dispatcher: EventDispatcher = clock_dispatcher
    recorder = Recorder()
    add(dispatcher, recorder.deferred("gate"), "before", k=0)
    first = fire(dispatcher, "first", k=0)
    second = fire(dispatcher, "second", k=1)
    add(dispatcher, recorder.sync("new"), "during", k=1)
    recorder.pending["gate"][0].callback(None)
    assert result_of(first).status == "completed"
    assert result_of(second).status == "completed"
    assert recorder.names() == ["gate", "new"]

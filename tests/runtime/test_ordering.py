"""Order within a phase: priority, before= and after=, kept in the index."""

from __future__ import annotations

from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import EventDispatcher, HandlerId, viz


def _names(dispatcher: EventDispatcher, phase: str = "during", **details: Any) -> list[str]:
    regs = dispatcher.matching_handlers(**details)[phase]
    return [reg.handler_name.removeprefix("support.") for reg in regs]


class PriorityTests(TestCase):
    """``priority=``: higher first, equal keeps registration order."""

    def test_higher_priority_is_called_first(self) -> None:
        """Handlers are called by descending priority, registration order among equals."""
        dispatcher, _ = started("k")
        recorder = Recorder()
        add(dispatcher, recorder.sync("low"), "during", priority=-5)
        add(dispatcher, recorder.sync("plain1"), "during", k=1)
        add(dispatcher, recorder.sync("high"), "during", priority=10)
        add(dispatcher, recorder.sync("plain2"), "during")
        add(dispatcher, recorder.sync("high2"), "during", priority=10, k=1)
        self.successResultOf(fire(dispatcher, k=1))
        assert recorder.names() == ["high", "high2", "plain1", "plain2", "low"]
        assert _names(dispatcher, k=1) == recorder.names()

    def test_priority_does_not_cross_phases(self) -> None:
        """A high priority in a later phase never runs before an earlier phase."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("after"), "after", priority=100)
        add(dispatcher, recorder.sync("before"), "before", priority=-100)
        self.successResultOf(fire(dispatcher))
        assert recorder.names() == ["before", "after"]

    def test_priority_must_be_an_int(self) -> None:
        """A priority that is not an int (or is a bool) is refused with a TypeError naming it."""
        dispatcher, _ = started()
        for bad in (1.5, "1", True, None):
            with pytest.raises(TypeError, match="priority must be an int"):
                dispatcher.add_event_handler(
                    Recorder().sync("x"), "during", priority=cast("Any", bad)
                )

    def test_handlers_lists_the_call_order(self) -> None:
        """handlers() lists phase by phase, each in call order, with priority and constraints."""
        dispatcher, _ = started()
        recorder = Recorder()
        a = add(dispatcher, recorder.sync("a"), "after")
        b = add(dispatcher, recorder.sync("b"), "during")
        c = add(dispatcher, recorder.sync("c"), "during", priority=3)
        d = add(dispatcher, recorder.sync("d"), "during", before=b)
        records = dispatcher.handlers()
        assert [r.handler_id for r in records] == [c, d, b, a]
        assert records[0].priority == 3
        assert records[1].before == (b,)
        assert records[1].after == ()


class ConstraintTests(TestCase):
    """``before=`` and ``after=``: named constraints within one phase."""

    def test_before_and_after_override_priority(self) -> None:
        """A constraint wins over priority; the others keep priority, then registration order."""
        dispatcher, _ = started()
        recorder = Recorder()
        first = add(dispatcher, recorder.sync("first"), "during", priority=5)
        second = add(dispatcher, recorder.sync("second"), "during")
        add(dispatcher, recorder.sync("pre"), "during", before=first, priority=-10)
        add(dispatcher, recorder.sync("post"), "during", after=[first, second], priority=99)
        self.successResultOf(fire(dispatcher))
        # pre must precede first; second (priority 0) is ready before pre (priority -10).
        assert recorder.names() == ["second", "pre", "first", "post"]
        assert _names(dispatcher) == recorder.names()

    def test_order_survives_removal(self) -> None:
        """Removing a handler named by a constraint drops that constraint; the rest holds."""
        dispatcher, _ = started()
        recorder = Recorder()
        a = add(dispatcher, recorder.sync("a"), "during")
        add(dispatcher, recorder.sync("b"), "during", before=a)
        add(dispatcher, recorder.sync("c"), "during", priority=1)
        assert _names(dispatcher) == ["c", "b", "a"]
        self.successResultOf(dispatcher.remove_event_handler(a))
        assert _names(dispatcher) == ["c", "b"]
        add(dispatcher, recorder.sync("d"), "during", priority=2)
        assert _names(dispatcher) == ["d", "c", "b"]

    def test_unknown_id_is_refused(self) -> None:
        """A constraint naming no registered handler is refused, naming the id."""
        dispatcher, _ = started()
        recorder = Recorder()
        a = add(dispatcher, recorder.sync("a"), "during")
        with pytest.raises(ValueError, match=rf"after=999 names no registered handler.*{a}"):
            dispatcher.add_event_handler(Recorder().sync("x"), "during", after=HandlerId(999))
        assert len(dispatcher.handlers()) == 1

    def test_other_phase_is_refused(self) -> None:
        """A constraint naming a handler of another phase is refused, naming both phases."""
        dispatcher, _ = started()
        recorder = Recorder()
        a = add(dispatcher, recorder.sync("a"), "before")
        with pytest.raises(
            ValueError, match=rf"before={a} names support.a \(id {a}\) of phase 'before'.*'during'"
        ):
            dispatcher.add_event_handler(Recorder().sync("x"), "during", before=a)

    def test_cycle_is_refused(self) -> None:
        """A constraint that would close a cycle is refused, naming the ids along it."""
        dispatcher, _ = started()
        recorder = Recorder()
        a = add(dispatcher, recorder.sync("a"), "during")
        b = add(dispatcher, recorder.sync("b"), "during", after=a)
        c = add(dispatcher, recorder.sync("c"), "during", after=b)
        with pytest.raises(ValueError, match=rf"new handler -> {a} -> {b} -> {c} -> new handler"):
            dispatcher.add_event_handler(recorder.sync("x"), "during", before=a, after=c)
        with pytest.raises(ValueError, match=rf"{a} named in both"):
            dispatcher.add_event_handler(recorder.sync("y"), "during", before=a, after=a)
        assert len(dispatcher.handlers()) == 3
        assert _names(dispatcher) == ["a", "b", "c"]

    def test_bad_ids_are_type_errors(self) -> None:
        """before=/after= of a wrong type are refused with a TypeError naming the value."""
        dispatcher, _ = started()
        for bad in ("1", 1.0, [1, "x"], [True]):
            with pytest.raises(TypeError, match="before must"):
                dispatcher.add_event_handler(
                    Recorder().sync("x"), "during", before=cast("Any", bad)
                )

    def test_topology_numbers_the_call_order(self) -> None:
        """The topology diagram draws each phase's handlers in call order."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("late"), "during", priority=-1)
        add(dispatcher, recorder.sync("early"), "during", priority=1)
        source = viz.topology(dispatcher, details={}).source
        assert source.index("#1 support.early") < source.index("#2 support.late")


@settings(max_examples=150)
@given(data=st.data())
def test_order_is_a_topological_order_by_priority(data: st.DataObject) -> None:
    """The call order is the constraints' topological order taking the highest priority first."""
    dispatcher, _ = started()
    recorder = Recorder()
    kept: dict[HandlerId, tuple[int, tuple[HandlerId, ...], tuple[HandlerId, ...]]] = {}
    for index in range(data.draw(st.integers(1, 12))):
        ids = sorted(kept)
        priority = data.draw(st.integers(-2, 2))
        before = (
            tuple(data.draw(st.lists(st.sampled_from(ids), max_size=2, unique=True)))
            if ids
            else ()
        )
        after = (
            tuple(data.draw(st.lists(st.sampled_from(ids), max_size=2, unique=True)))
            if ids
            else ()
        )
        try:
            hid = add(
                dispatcher,
                recorder.sync(f"h{index}"),
                "during",
                priority=priority,
                before=before,
                after=after,
            )
        except ValueError:
            continue
        kept[hid] = (priority, before, after)
        remove: bool = data.draw(st.booleans())
        if ids and remove:
            gone = data.draw(st.sampled_from(sorted(kept)))
            dispatcher.remove_event_handler(gone)
            del kept[gone]
    edges = {(h, b) for h, (_, before, _) in kept.items() for b in before if b in kept}
    edges |= {(a, h) for h, (_, _, after) in kept.items() for a in after if a in kept}
    expected: list[HandlerId] = []
    left = set(kept)
    while left:
        ready = [h for h in left if not any(a in left and b == h for a, b in edges)]
        assert ready, "the registry accepted a cycle"
        nxt = min(ready, key=lambda h: (-kept[h][0], h))
        expected.append(nxt)
        left.remove(nxt)
    got = [reg.handler_id for reg in dispatcher.matching_handlers()["during"]]
    assert got == expected

"""Properties of the match index: it agrees with a brute-force matcher, whatever came before."""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from strategies import (
    KEYWORDS,
    PHASE_NAMES,
    HandlerPlan,
    brute_force_matches,
    details_dicts,
    handler_plans,
    match_specs,
    phase_lists,
)
from support import collected_warnings
from twisted_event_dispatcher import EventDispatcher, EventRun, HandlerId, UnknownHandlerError

_T = TypeVar("_T")

Call = tuple[HandlerId, int]
"""One recorded handler call: which handler, and the event (a run number) it was given."""


def _started(phases: Sequence[str]) -> EventDispatcher:
    dispatcher = EventDispatcher(KEYWORDS, phases, reactor=Clock())
    dispatcher.start()
    return dispatcher


def _result(deferred: Deferred[_T]) -> _T:
    """Return what an already-fired Deferred holds, failing the test if it failed or waits."""
    outcome: list[_T | Failure] = []
    deferred.addBoth(outcome.append)
    assert outcome, f"{deferred!r} has not fired"
    (value,) = outcome
    assert not isinstance(value, Failure), value
    return value


def _failure(deferred: Deferred[Any]) -> Failure:
    """Return (and consume) the Failure of an already-failed Deferred."""
    outcome: list[object] = []
    deferred.addBoth(outcome.append)
    assert outcome, f"{deferred!r} has not fired"
    (value,) = outcome
    assert isinstance(value, Failure), f"{deferred!r} succeeded with {value!r}"
    return value


class _Owner:
    """Holds a weakly registered bound method; deleting the owner unregisters it."""

    def __init__(self, calls: list[Call]) -> None:
        self.calls = calls
        self.handler_id = HandlerId(0)

    def handle(self, event: int) -> None:
        """Record the call."""
        self.calls.append((self.handler_id, event))


@dataclass
class _Model:
    """The registry as the documented rules describe it, in registration order."""

    phases: tuple[str, ...]
    registered: dict[HandlerId, HandlerPlan]
    calls_left: dict[HandlerId, int | None]

    def rows(self) -> list[tuple[HandlerId, str, Mapping[str, Any]]]:
        return [(hid, plan.phase, plan.spec) for hid, plan in self.registered.items()]

    def expected(self, details: Mapping[str, Any]) -> dict[str, list[HandlerId]]:
        return brute_force_matches(self.phases, self.rows(), details)

    def fire(self, details: Mapping[str, Any], event: int) -> list[Call]:
        """Return the calls a run makes, and retire the handlers it uses up."""
        calls: list[Call] = []
        for ids in self.expected(details).values():
            for hid in ids:
                calls.append((hid, event))
                left = self.calls_left[hid]
                if left is not None:
                    self.calls_left[hid] = left - 1
                    if left == 1:
                        del self.registered[hid]
        return calls


class _Harness:
    """A started dispatcher, its recorded calls, and what keeps its handlers alive."""

    def __init__(self, phases: tuple[str, ...]) -> None:
        self.dispatcher = _started(phases)
        self.calls: list[Call] = []
        self.owners: dict[HandlerId, _Owner] = {}
        self.model = _Model(phases, {}, {})
        self.events = 0

    def add(self, plan: HandlerPlan) -> HandlerId:
        owner = _Owner(self.calls)
        handler: Callable[[int], None] = owner.handle
        hid = _result(
            self.dispatcher.add_event_handler(
                handler, plan.phase, plan.weak, max_calls=plan.max_calls, **plan.spec
            )
        )
        owner.handler_id = hid
        self.owners[hid] = owner
        self.model.registered[hid] = plan
        self.model.calls_left[hid] = plan.max_calls
        return hid

    def remove(self, hid: HandlerId) -> None:
        deferred = self.dispatcher.remove_event_handler(hid)
        if hid in self.model.registered:
            assert _result(deferred) is None
            del self.model.registered[hid]
        else:
            assert _failure(deferred).check(UnknownHandlerError) is not None

    def collect(self, hid: HandlerId) -> None:
        """Drop the last strong reference to a weak handler's owner.

        The next call on the dispatcher warns if the handler was never called.
        """
        never_called = all(called != hid for called, _ in self.calls)
        with collected_warnings(expected=never_called):
            del self.owners[hid]
            gc.collect()
            self.dispatcher.handlers()
        del self.model.registered[hid]

    def check_matching(self, details: Mapping[str, Any]) -> None:
        matching = self.dispatcher.matching_handlers(**details)
        assert list(matching) == list(self.model.phases)
        got = {phase: [reg.handler_id for reg in regs] for phase, regs in matching.items()}
        assert got == self.model.expected(details), details

    def fire(self, details: Mapping[str, Any]) -> None:
        self.events += 1
        event = self.events
        expected = self.model.fire(details, event)
        before = len(self.calls)
        run: EventRun = _result(self.dispatcher.fire_event(event, **details))
        assert run.status == "completed"
        assert self.calls[before:] == expected, details
        assert [outcome.handler_id for outcome in run.outcomes] == [h for h, _ in expected]

    def check_handlers(self) -> None:
        records = self.dispatcher.handlers()
        # Phase by phase, then in registration order (no priorities in the model).
        rank = {phase: index for index, phase in enumerate(self.model.phases)}
        registered = self.model.registered
        in_call_order = sorted(registered, key=lambda h: rank[registered[h].phase])
        assert [record.handler_id for record in records] == in_call_order
        for record in records:
            plan = self.model.registered[record.handler_id]
            assert record.phase == plan.phase
            assert record.match_spec == {k: v for k, v in plan.spec.items() if v is not None}


@settings(max_examples=200)
@given(data=st.data(), phases=phase_lists())
def test_index_agrees_with_brute_force(data: st.DataObject, phases: tuple[str, ...]) -> None:
    """For random specs and details, matching and firing select the brute-force handlers."""
    harness = _Harness(phases)
    plans = data.draw(
        st.lists(handler_plans(phases, max_calls=False, weak=False, deferred=False), max_size=40)
    )
    for plan in plans:
        harness.add(plan)
    for details in data.draw(st.lists(details_dicts(), min_size=1, max_size=8)):
        harness.check_matching(details)
        harness.fire(details)
        harness.check_matching(details)
    harness.check_handlers()


@given(
    phases=phase_lists(),
    order=st.lists(st.sampled_from(PHASE_NAMES), max_size=30),
    details=details_dicts(),
)
def test_calls_follow_phase_then_registration_order(
    phases: tuple[str, ...], order: list[str], details: dict[str, Any]
) -> None:
    """Catch-all handlers are called in configured phase order, then in registration order."""
    harness = _Harness(phases)
    ids = [harness.add(HandlerPlan(phase)) for phase in order if phase in phases]
    harness.fire(details)
    rank = {phase: index for index, phase in enumerate(phases)}
    registered_order = {hid: index for index, hid in enumerate(ids)}
    expected = sorted(ids, key=lambda hid: (rank[harness.model.registered[hid].phase], hid))
    assert [hid for hid, _ in harness.calls] == expected
    assert expected == sorted(
        ids,
        key=lambda hid: (rank[harness.model.registered[hid].phase], registered_order[hid]),
    )


@given(data=st.data(), phases=phase_lists())
def test_removed_handlers_are_never_matched_again(
    data: st.DataObject, phases: tuple[str, ...]
) -> None:
    """Removed handlers leave every match at once, and removing one again fails."""
    harness = _Harness(phases)
    plans = data.draw(st.lists(handler_plans(phases, max_calls=False, weak=False), max_size=20))
    pool = data.draw(st.lists(details_dicts(), min_size=1, max_size=4))
    ids = [harness.add(plan) for plan in plans]
    for details in pool:
        harness.check_matching(details)  # warm the cache before removing
    doomed = data.draw(st.lists(st.sampled_from(ids), unique=True) if ids else st.just([]))
    for hid in doomed:
        harness.remove(hid)
    for details in pool:
        harness.check_matching(details)
    for hid in doomed:
        harness.remove(hid)  # a second time: UnknownHandlerError
    harness.check_handlers()


@settings(max_examples=150, deadline=None)
@given(data=st.data(), phases=phase_lists())
def test_cache_is_invalidated_by_every_change(
    data: st.DataObject, phases: tuple[str, ...]
) -> None:
    """After any mix of adds, removals, used-up and collected handlers, matches stay exact.

    The cache is warmed for every details dict of a small pool after each step,
    so each change must invalidate entries that were just read.
    """
    harness = _Harness(phases)
    pool = data.draw(st.lists(details_dicts(), min_size=1, max_size=3))
    issued: list[HandlerId] = []
    steps = data.draw(st.integers(1, 25))
    for _ in range(steps):
        weak_alive = [
            hid for hid in harness.model.registered if harness.model.registered[hid].weak
        ]
        choices = ["add", "add", "fire", "remove"] + (["collect"] if weak_alive else [])
        step = data.draw(st.sampled_from(choices))
        if step == "add":
            issued.append(harness.add(data.draw(handler_plans(phases, deferred=False))))
        elif step == "fire":
            harness.fire(data.draw(st.sampled_from(pool)))
        elif step == "remove":
            known_or_not = [*issued, HandlerId(10_000)]
            harness.remove(data.draw(st.sampled_from(known_or_not)))
        else:
            harness.collect(data.draw(st.sampled_from(weak_alive)))
        for details in pool:
            harness.check_matching(details)
            harness.check_matching(details)  # a cache hit must agree as well
    harness.check_handlers()


@given(
    data=st.data(),
    spec_value=st.sampled_from([1, 1.0, True]),
    detail_values=st.lists(st.sampled_from([1, 1.0, True, 0, False]), min_size=1, max_size=6),
)
def test_equal_values_of_different_types_match(
    data: st.DataObject, spec_value: object, detail_values: list[object]
) -> None:
    """Values compare by equality: 1, 1.0 and True are one value for specs, details, cache."""
    harness = _Harness(("during",))
    harness.add(HandlerPlan("during", {"a": spec_value}))
    harness.add(HandlerPlan("during", {"a": 0}))
    for value in detail_values:
        harness.check_matching({"a": value})
        harness.fire({"a": value})


@given(spec=match_specs(), details=details_dicts())
def test_wildcard_keys_are_dropped_from_the_spec(
    spec: dict[str, Any], details: dict[str, Any]
) -> None:
    """A spec matches exactly as the same spec without its None values does."""
    harness = _Harness(("during",))
    harness.add(HandlerPlan("during", spec))
    narrowed = {key: value for key, value in spec.items() if value is not None}
    harness.add(HandlerPlan("during", narrowed))
    got = harness.dispatcher.matching_handlers(**details)["during"]
    assert len(got) in (0, 2)
    harness.check_matching(details)

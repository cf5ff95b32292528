"""Rules 1-3: which handlers an event's details match, and bad input refused at once."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock

from support import Recorder, add, fire, result_of, started
from twisted_event_dispatcher import EventDispatcher


class TestMatchRule:
    """Rule 1: a spec matches when every non-None key is present in the details and equal."""

    def test_equal_values_match(self) -> None:
        """A handler whose spec values all equal the details' values is called."""
        dispatcher, _ = started("role", "user")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during", role="admin", user="bob")
        fire(dispatcher, role="admin", user="bob")
        assert recorder.names() == ["h"]

    def test_different_value_does_not_match(self) -> None:
        """A handler whose spec names another value is not called."""
        dispatcher, _ = started("role")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during", role="user")
        fire(dispatcher, role="admin")
        assert recorder.calls == []

    def test_absent_key_does_not_match(self) -> None:
        """A spec key missing from the details does not match."""
        dispatcher, _ = started("role", "user")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during", role="user")
        fire(dispatcher, user="bob")
        fire(dispatcher)
        assert recorder.calls == []

    def test_none_is_a_wildcard(self) -> None:
        """A spec value of None matches any value and an absent key alike."""
        dispatcher, _ = started("role", "user")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during", role=None, user="bob")
        fire(dispatcher, "a", role="admin", user="bob")
        fire(dispatcher, "b", user="bob")
        fire(dispatcher, "c", role="admin", user="alice")
        assert recorder.calls == [("h", "a"), ("h", "b")]

    def test_extra_detail_keys_do_not_matter(self) -> None:
        """Details may carry keys the spec does not mention."""
        dispatcher, _ = started("role", "user")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during", role="user")
        fire(dispatcher, role="user", user="bob")
        assert recorder.names() == ["h"]

    def test_empty_spec_matches_everything(self) -> None:
        """A handler with no spec matches every event, including one with no details."""
        dispatcher, _ = started("role")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        fire(dispatcher, "a")
        fire(dispatcher, "b", role="x")
        assert recorder.calls == [("h", "a"), ("h", "b")]

    def test_none_detail_value_matches_only_wildcards(self) -> None:
        """A detail whose value is None matches wildcard specs, not specs naming a value."""
        dispatcher, _ = started("role")
        recorder = Recorder()
        add(dispatcher, recorder.sync("specific"), "during", role="user")
        add(dispatcher, recorder.sync("wild"), "during", role=None)
        fire(dispatcher, role=None)
        assert recorder.names() == ["wild"]

    def test_equal_but_not_identical_values_match(self) -> None:
        """Values match by equality, as dictionary keys do (a tuple equals an equal tuple)."""
        dispatcher, _ = started("key")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during", key=("a", "b"))
        fire(dispatcher, key=tuple("ab"))
        assert recorder.names() == ["h"]

    def test_matching_handlers_does_not_call(self) -> None:
        """matching_handlers lists the handlers per phase without calling any."""
        dispatcher, _ = started("role")
        recorder = Recorder()
        first = add(dispatcher, recorder.sync("first"), "after", role="user")
        second = add(dispatcher, recorder.sync("second"), "before")
        add(dispatcher, recorder.sync("third"), "during", role="admin")
        matches = dispatcher.matching_handlers(role="user")
        assert {phase: [r.handler_id for r in regs] for phase, regs in matches.items()} == {
            "before": [second],
            "during": [],
            "after": [first],
        }
        assert recorder.calls == []


class TestBadInput:
    """Rule 2: bad input raises at once, naming the offending value and what is allowed."""

    def test_unknown_detail_keyword(self) -> None:
        """Firing with a keyword that is not allowed raises ValueError naming it and the rest."""
        dispatcher, _ = started("role", "user")
        with pytest.raises(ValueError, match=r"'colour' is not an allowed.*'role', 'user'"):
            dispatcher.fire_event("e", colour="red")

    def test_unknown_spec_keyword(self) -> None:
        """Registering with a keyword that is not allowed raises ValueError naming it."""
        dispatcher, _ = started("role")
        with pytest.raises(ValueError, match=r"'colour' is not an allowed.*'role'"):
            dispatcher.add_event_handler(Recorder().sync("h"), "during", colour="red")
        assert dispatcher.handlers() == []

    def test_unknown_phase(self) -> None:
        """Registering for an unknown phase raises ValueError naming it and the phases."""
        dispatcher, _ = started()
        with pytest.raises(
            ValueError, match=r"unknown phase 'durin'.*'before', 'during', 'after'"
        ):
            dispatcher.add_event_handler(Recorder().sync("h"), "durin")

    def test_not_callable(self) -> None:
        """Registering something that is not callable raises TypeError naming it."""
        dispatcher, _ = started()
        with pytest.raises(TypeError, match=r"listen_fn must be callable; got 42 \(int\)"):
            dispatcher.add_event_handler(42, "during")  # type: ignore[call-overload]

    def test_unhashable_spec_value(self) -> None:
        """An unhashable match spec value raises TypeError naming the key."""
        dispatcher, _ = started("tags")
        with pytest.raises(TypeError, match=r"match spec value for 'tags' must be hashable"):
            dispatcher.add_event_handler(Recorder().sync("h"), "during", tags=["a"])

    def test_unhashable_detail_value(self) -> None:
        """An unhashable detail value raises TypeError naming the key."""
        dispatcher, _ = started("tags")
        with pytest.raises(TypeError, match=r"event detail value for 'tags' must be hashable"):
            dispatcher.fire_event("e", tags={"a": 1})

    @pytest.mark.parametrize("bad", [0, -3])
    def test_max_calls_below_one(self, bad: int) -> None:
        """max_calls below 1 raises ValueError naming the value."""
        dispatcher, _ = started()
        with pytest.raises(ValueError, match=rf"max_calls must be >= 1 or None; got {bad}"):
            dispatcher.add_event_handler(Recorder().sync("h"), "during", max_calls=bad)

    @pytest.mark.parametrize("bad", [1.5, "2", True])
    def test_max_calls_not_an_int(self, bad: object) -> None:
        """A max_calls that is not a whole number raises TypeError."""
        dispatcher, _ = started()
        with pytest.raises(TypeError, match="max_calls must be a whole number"):
            dispatcher.add_event_handler(  # type: ignore[call-overload]
                Recorder().sync("h"),
                "during",
                max_calls=bad,
            )

    @pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
    def test_timeout_out_of_range(self, bad: float) -> None:
        """A timeout that is not a positive finite number raises ValueError."""
        dispatcher, _ = started()
        with pytest.raises(ValueError, match="timeout must be a positive, finite number"):
            dispatcher.add_event_handler(Recorder().sync("h"), "during", timeout=bad)

    def test_timeout_not_a_number(self) -> None:
        """A timeout that is not a number raises TypeError."""
        dispatcher, _ = started()
        with pytest.raises(TypeError, match="timeout must be a number of seconds"):
            dispatcher.add_event_handler(  # type: ignore[call-overload]
                Recorder().sync("h"),
                "during",
                timeout="5",
            )

    def test_use_weakref_not_a_bool(self) -> None:
        """A use_weakref that is not a bool raises TypeError (a phase passed in its place)."""
        dispatcher, _ = started()
        with pytest.raises(TypeError, match="use_weakref must be True or False; got 'after'"):
            dispatcher.add_event_handler(  # type: ignore[call-overload]
                Recorder().sync("h"),
                "during",
                "after",
            )


class TestConstructor:
    """Rule 2: the constructor refuses bad phases, keywords and options."""

    def test_empty_phases(self) -> None:
        """An empty phase list raises ValueError."""
        with pytest.raises(ValueError, match="at least one phase"):
            EventDispatcher((), phases=())

    def test_duplicate_phases(self) -> None:
        """A repeated phase raises ValueError naming it."""
        with pytest.raises(ValueError, match=r"phases names 'a' more than once"):
            EventDispatcher((), phases=("a", "b", "a"))

    def test_phases_as_a_string(self) -> None:
        """A bare string for phases (a sequence of letters) raises TypeError."""
        with pytest.raises(TypeError, match="phases must be a sequence of names"):
            EventDispatcher((), phases="during")

    def test_empty_phase_name(self) -> None:
        """An empty phase name raises ValueError."""
        with pytest.raises(ValueError, match="every phase must be a non-empty str"):
            EventDispatcher((), phases=("a", ""))

    @pytest.mark.parametrize(
        "keyword", ["listen_fn", "phase", "use_weakref", "max_calls", "timeout", "event"]
    )
    def test_reserved_keyword(self, keyword: str) -> None:
        """A keyword that collides with a parameter name raises ValueError naming it."""
        with pytest.raises(ValueError, match=rf"'{keyword}' cannot be a match keyword"):
            EventDispatcher(("role", keyword))

    def test_keywords_as_a_string(self) -> None:
        """A bare string for the keywords raises TypeError."""
        with pytest.raises(TypeError, match="allowed_match_spec_keywords must be a sequence"):
            EventDispatcher("role")

    def test_keyword_not_an_identifier(self) -> None:
        """A keyword that could not be passed as a keyword argument raises ValueError."""
        with pytest.raises(ValueError, match="valid Python identifier; got 'a-b'"):
            EventDispatcher(("a-b",))

    def test_duplicate_keywords(self) -> None:
        """A repeated keyword raises ValueError naming it."""
        with pytest.raises(ValueError, match="names 'role' more than once"):
            EventDispatcher(("role", "role"))

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("ordering", "parallel"),
            ("when_stopped", "ignore"),
            ("on_handler_error", "raise"),
        ],
    )
    def test_unknown_option_value(self, option: str, value: str) -> None:
        """An option outside its allowed values raises ValueError listing them."""
        options: dict[str, Any] = {option: value}
        with pytest.raises(ValueError, match=rf"{option} must be one of .*; got '{value}'"):
            EventDispatcher((), **options)

    def test_bad_max_queued(self) -> None:
        """A max_queued below 1 raises ValueError."""
        with pytest.raises(ValueError, match="max_queued must be >= 1"):
            EventDispatcher((), max_queued=0)

    def test_bad_handler_timeout(self) -> None:
        """A handler_timeout that is not positive raises ValueError."""
        with pytest.raises(ValueError, match="handler_timeout must be a positive"):
            EventDispatcher((), handler_timeout=-1)

    def test_configuration_is_readable(self) -> None:
        """The configuration given to the constructor reads back from properties."""
        clock = Clock()
        dispatcher = EventDispatcher(
            ["a", "b"],
            phases=["one", "two"],
            reactor=clock,
            ordering="concurrent",
            when_stopped="queue",
            on_handler_error="abort",
        )
        assert dispatcher.phases == ("one", "two")
        assert dispatcher.match_spec_keywords == ("a", "b")
        assert dispatcher.ordering == "concurrent"
        assert dispatcher.when_stopped == "queue"
        assert dispatcher.on_handler_error == "abort"
        reactor: object = dispatcher.reactor
        assert reactor is clock
        assert "not running" in repr(dispatcher)


class TestIndex:
    """Rule 3: matching is indexed by spec shape, never a scan over every handler."""

    def test_cost_follows_shapes_not_handlers(self) -> None:
        """Ten thousand handlers of one shape make one shape; a fire calls only the match."""
        dispatcher, _ = started("a", "b", "c")
        recorder = Recorder()
        for value in range(10_000):
            add(dispatcher, recorder.sync(f"h{value}"), "during", a=value, b="x", c="y")
        assert dispatcher._registry.shape_count == 1
        fire(dispatcher, a=1234, b="x", c="y")
        assert recorder.names() == ["h1234"]

    def test_registry_does_not_scan_buckets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Matching reads only the buckets of the details' values, whatever else is registered."""
        dispatcher, _ = started("a")
        recorder = Recorder()
        for value in range(100):
            add(dispatcher, recorder.sync(f"h{value}"), "during", a=value)
        registry = dispatcher._registry
        [shape] = registry._shapes.values()
        reads: list[Any] = []

        class CountingBuckets(dict[Any, Any]):
            def get(self, key: Any, default: Any = None) -> Any:
                reads.append(key)
                return super().get(key, default)

            def values(self) -> Any:  # pragma: no cover - a scan would call this
                raise AssertionError("matching scanned every bucket")

        counting = CountingBuckets(shape.buckets)
        monkeypatch.setattr(shape, "buckets", counting, raising=False)
        result_of(fire(dispatcher, a=7))
        assert reads == [7]
        assert recorder.names() == ["h7"]


def test_self_is_an_ordinary_keyword() -> None:
    """A match keyword named self works in specs and details (self is positional-only)."""
    dispatcher, _ = started("self")
    recorder = Recorder()
    add(dispatcher, recorder.sync("h"), "during", self="me")
    fire(dispatcher, "e", self="me")
    assert dispatcher.matching_handlers(self="me")["during"][0].handler_name.endswith("h")
    assert recorder.names() == ["h"]

"""Registration styles: the handler decorator, the handling() context manager, pass_details."""

from __future__ import annotations

from typing import Any

import pytest

from support import Recorder, TestCase, fire, started


class DecoratorTests(TestCase):
    """``@dispatcher.handler(phase, **options)``."""

    def test_registers_and_returns_the_function_unchanged(self) -> None:
        """The decorated function is registered with the options and returned as it was."""
        dispatcher, _ = started("role")
        calls: list[Any] = []

        def on_user(event: object) -> str:
            calls.append(event)
            return "done"

        decorated = dispatcher.handler("during", role="user", priority=3)(on_user)
        assert decorated is on_user
        assert on_user("direct") == "done"
        [record] = dispatcher.handlers()
        assert record.handler_id == on_user.handler_id  # type: ignore[attr-defined]
        assert record.match_spec == {"role": "user"}
        assert record.priority == 3
        self.successResultOf(fire(dispatcher, "e", role="user"))
        self.successResultOf(fire(dispatcher, "e", role="admin"))
        assert calls == ["direct", "e"]

    def test_a_method_in_a_class_body_is_refused(self) -> None:
        """Decorating a method in a class body raises a TypeError: register per instance."""
        dispatcher, _ = started()
        with pytest.raises(TypeError, match=r"Shop.on_order.*class body.*self.on_order"):

            class Shop:
                @dispatcher.handler("during")
                def on_order(self, event: object) -> None:
                    """Never registered."""

        assert dispatcher.handlers() == []

    def test_a_bound_method_is_registered(self) -> None:
        """A bound method carries its instance: it is registered, held weakly by default."""
        dispatcher, _ = started()
        seen: list[tuple[str, object]] = []

        class Shop:
            def __init__(self, name: str) -> None:
                self.name = name

            def on_order(self, event: object) -> None:
                seen.append((self.name, event))

        shop = Shop("north")
        on_order = dispatcher.handler("during")(shop.on_order)
        assert on_order == shop.on_order
        [record] = dispatcher.handlers()
        self.successResultOf(fire(dispatcher, "e"))
        assert seen == [("north", "e")]
        del shop, on_order
        assert dispatcher.handlers() == []
        assert record.handler_id is not None


class HandlingTests(TestCase):
    """``with dispatcher.handling(fn, phase, **spec) as handler_id``."""

    def test_removed_on_exit(self) -> None:
        """The handler is registered inside the block and removed when it exits."""
        dispatcher, _ = started("k")
        recorder = Recorder()
        with dispatcher.handling(recorder.sync("temp"), "during", k=1) as handler_id:
            assert [r.handler_id for r in dispatcher.handlers()] == [handler_id]
            self.successResultOf(fire(dispatcher, "e", k=1))
        assert dispatcher.handlers() == []
        self.successResultOf(fire(dispatcher, "e", k=1))
        assert recorder.names() == ["temp"]

    def test_removed_on_error(self) -> None:
        """The handler is removed when the block raises, and the error propagates."""
        dispatcher, _ = started()
        recorder = Recorder()
        with (
            pytest.raises(RuntimeError, match="boom"),
            dispatcher.handling(recorder.sync("temp"), "during"),
        ):
            raise RuntimeError("boom")
        assert dispatcher.handlers() == []

    def test_removed_already_is_fine(self) -> None:
        """A handler used up inside the block (max_calls) leaves the exit quiet."""
        dispatcher, _ = started()
        recorder = Recorder()
        with dispatcher.handling(recorder.sync("once"), "during", max_calls=1):
            self.successResultOf(fire(dispatcher))
            assert dispatcher.handlers() == []
        assert recorder.names() == ["once"]


class PassDetailsTests(TestCase):
    """``add_event_handler(..., pass_details=True)``."""

    def test_handler_gets_the_details_as_keywords(self) -> None:
        """A handler registered with pass_details=True is called as fn(event, **details)."""
        dispatcher, _ = started("user", "role")
        calls: list[Any] = []

        def on_user(event: object, **details: Any) -> None:
            calls.append((event, details))

        self.successResultOf(dispatcher.add_event_handler(on_user, "during", pass_details=True))
        run = self.successResultOf(fire(dispatcher, "e", user="bob", role="admin"))
        assert calls == [("e", {"user": "bob", "role": "admin"})]
        assert run.outcomes[0].handler_name.endswith("on_user")

    def test_pass_details_must_be_a_bool(self) -> None:
        """pass_details other than True or False is refused with a TypeError naming it."""
        dispatcher, _ = started()
        with pytest.raises(TypeError, match="pass_details must be True or False; got 1"):
            dispatcher.add_event_handler(Recorder().sync("x"), "during", pass_details=1)  # type: ignore[call-overload]

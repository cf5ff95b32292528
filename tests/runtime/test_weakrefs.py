"""Rule 13: weak references to handlers, and nothing of the dispatcher's keeping them alive."""

from __future__ import annotations

import functools
import gc
import os
import warnings
import weakref
from pathlib import Path
from typing import Any

import pytest
import structlog
from twisted.internet.defer import Deferred

import twisted_event_dispatcher
from support import TestCase, add, fire, result_of, started
from twisted_event_dispatcher import HandlerCollectedWarning


class Owner:
    """An object whose bound method is registered as a handler."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        """Record *event*."""
        self.events.append(event)


class CallableOwner:
    """A callable object registered as a handler."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> Any:
        """Record *event* and return it."""
        self.events.append(event)
        return event


class Slotted:
    """A callable whose instances cannot be weakly referenced."""

    __slots__ = ()

    def __call__(self, event: Any) -> None:
        """Ignore *event*."""


class Seen(set[Any]):
    """A set subclass, whose instances can be weakly referenced."""


class WeakReferenceTests(TestCase):
    """Weakly registered handlers vanish with their referent."""

    def test_bound_method_holds_instance_weakly(self) -> None:
        """A bound method's instance is held weakly; the registration goes when it is collected."""
        dispatcher, _ = started()
        owner = Owner()
        add(dispatcher, owner.on_event, "during")
        self.successResultOf(fire(dispatcher, 1))
        assert owner.events == [1]
        probe = weakref.ref(owner)
        del owner
        gc.collect()
        assert probe() is None
        assert dispatcher.handlers() == []
        self.successResultOf(fire(dispatcher, 2))

    def test_callable_object(self) -> None:
        """A callable object is held weakly and removed once collected."""
        dispatcher, _ = started()
        owner = CallableOwner()
        add(dispatcher, owner, "during")
        run = self.successResultOf(fire(dispatcher, "x"))
        assert run.outcomes[0].result == "x"
        assert dispatcher.handlers()[0].handler_name.endswith("CallableOwner")
        del owner, run
        gc.collect()
        assert dispatcher.handlers() == []

    def test_plain_function(self) -> None:
        """A plain function is held weakly and removed once collected."""
        dispatcher, _ = started()
        calls: list[Any] = []

        def handler(event: Any) -> None:
            calls.append(event)

        add(dispatcher, handler, "during")
        self.successResultOf(fire(dispatcher, 1))
        del handler
        gc.collect()
        self.successResultOf(fire(dispatcher, 2))
        assert calls == [1]

    def test_lambda_trap_is_reported(self) -> None:
        """A weak handler collected before its first call is logged as a warning naming it."""
        dispatcher, _ = started()
        with structlog.testing.capture_logs() as logs:
            add(dispatcher, lambda event: None, "during")
            gc.collect()
            with pytest.warns(
                HandlerCollectedWarning, match=r"<lambda> .*use_weakref=False"
            ) as caught:
                fired = dispatcher.fire_event("event")
        run = self.successResultOf(fired)
        assert run.outcomes == []
        [warning] = [e for e in logs if e["log_level"] == "warning"]
        assert warning["event"] == "weak_handler_collected_before_first_call"
        assert "<lambda>" in warning["handler_name"]
        assert "use_weakref=False" in warning["hint"]
        [issued] = caught.list
        assert issued.filename == __file__  # it names the line that fired

    def test_partial_trap_is_reported(self) -> None:
        """An inline functools.partial is the same trap, and is named in the warning."""
        dispatcher, _ = started()
        with structlog.testing.capture_logs() as logs:
            add(dispatcher, functools.partial(print, "x"), "during")
            gc.collect()
            with pytest.warns(HandlerCollectedWarning, match=r"functools\.partial\(print\)"):
                dispatcher.handlers()
        [warning] = [e for e in logs if e["log_level"] == "warning"]
        assert warning["handler_name"] == "functools.partial(print)"

    def test_warning_names_the_callers_line_through_every_entry_point(self) -> None:
        """Raised from a decorator or a with statement, the warning names the caller's file."""
        dispatcher, _ = started()

        def kept(event: object) -> None:
            """Referenced by this test for its length."""

        with structlog.testing.capture_logs():
            for register in (
                lambda: dispatcher.handler("during")(kept),
                lambda: dispatcher.handling(kept, "after").__enter__(),
            ):
                add(dispatcher, lambda event: None, "during")
                gc.collect()
                with pytest.warns(HandlerCollectedWarning) as caught:
                    register()
                assert [w.filename for w in caught] == [__file__]

    def test_warning_names_a_caller_whose_path_starts_like_the_package(self) -> None:
        """Code in a sibling directory named like the package (a plugin) is the caller named."""
        dispatcher, _ = started()
        package = Path(twisted_event_dispatcher.__file__).parent
        filename = f"{package}_plugin{os.sep}handlers.py"
        code = compile("dispatcher.handlers()\n", filename, "exec")
        with structlog.testing.capture_logs():
            add(dispatcher, lambda event: None, "during")
            gc.collect()
            with pytest.warns(HandlerCollectedWarning) as caught:
                exec(code, {"dispatcher": dispatcher})  # noqa: S102 -- code at a given path
        assert [w.filename for w in caught] == [filename]

    def test_one_warning_names_every_handler_collected_since_the_last(self) -> None:
        """Seven collected at once: one warning naming five and counting two; then none."""
        dispatcher, _ = started()
        with structlog.testing.capture_logs():
            partials = [functools.partial(print, number) for number in range(7)]
            for handler in partials:
                add(dispatcher, handler, "during")
            del partials, handler
            gc.collect()
            with pytest.warns(HandlerCollectedWarning) as caught:
                fire(dispatcher, 1)
            [warning] = caught
            message = str(warning.message)
            assert message.startswith("7 handlers were collected before their first call")
            assert message.count("functools.partial(print") == 5
            assert message.endswith("and 2 more")
            with warnings.catch_warnings():
                warnings.simplefilter("error", HandlerCollectedWarning)
                fire(dispatcher, 2)  # nothing new was collected: no warning

    def test_warning_as_error_is_raised_by_the_call_and_leaves_the_dispatcher_whole(
        self,
    ) -> None:
        """Under an "error" filter the warning is raised by fire_event, once; firing works on."""
        dispatcher, _ = started()
        owner = Owner()
        add(dispatcher, owner.on_event, "during")
        with structlog.testing.capture_logs():
            add(dispatcher, lambda event: None, "during")
            gc.collect()
            with warnings.catch_warnings():
                warnings.simplefilter("error", HandlerCollectedWarning)
                with pytest.raises(HandlerCollectedWarning, match="<lambda>"):
                    fire(dispatcher, 1)
                self.successResultOf(fire(dispatcher, 2))
        assert owner.events == [2]
        assert len(dispatcher.handlers()) == 1

    def test_handling_removes_its_handler_even_when_the_warning_is_an_error(self) -> None:
        """A warning raised as an error as a handling() block exits still removes its handler."""
        dispatcher, _ = started()

        def kept(event: object) -> None:
            """Referenced by this test for its length."""

        def lose_one() -> None:
            add(dispatcher, lambda event: None, "during")
            gc.collect()

        with structlog.testing.capture_logs(), warnings.catch_warnings():
            warnings.simplefilter("error", HandlerCollectedWarning)
            with pytest.raises(HandlerCollectedWarning), dispatcher.handling(kept, "during"):
                lose_one()
            assert dispatcher.handlers() == []

    def test_no_warning_once_called(self) -> None:
        """A weak handler collected after its first call is removed without a warning."""
        dispatcher, _ = started()
        owner = Owner()
        add(dispatcher, owner.on_event, "during")
        self.successResultOf(fire(dispatcher))
        del owner
        gc.collect()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            self.successResultOf(fire(dispatcher))
            assert dispatcher.handlers() == []

    def test_strong_reference_keeps_handler(self) -> None:
        """use_weakref=False keeps an inline lambda alive until removed."""
        dispatcher, _ = started()
        calls: list[Any] = []
        self.successResultOf(
            dispatcher.add_event_handler(lambda event: calls.append(event), "during", False)  # noqa: PLW0108
        )
        gc.collect()
        self.successResultOf(fire(dispatcher, 1))
        assert calls == [1]
        assert dispatcher.handlers()[0].weak is False

    def test_not_weakly_referenceable(self) -> None:
        """A callable that cannot be weakly referenced raises TypeError suggesting the fix."""
        dispatcher, _ = started()
        with pytest.raises(TypeError, match=r"cannot hold handler .*Slotted .*use_weakref=False"):
            dispatcher.add_event_handler(Slotted(), "during")
        calls: list[Any] = []
        with pytest.raises(
            TypeError, match=r"handler list\.append \(builtin_function_or_method\)"
        ):
            dispatcher.add_event_handler(calls.append, "during")
        assert dispatcher.handlers() == []

    def test_builtin_method_of_weakrefable_object(self) -> None:
        """A built-in method is held through a weak reference to the object it is bound to."""
        dispatcher, _ = started()
        seen = Seen()
        add(dispatcher, seen.add, "during")
        gc.collect()
        self.successResultOf(fire(dispatcher, "x"))
        assert seen == {"x"}
        assert dispatcher.handlers()[0].handler_name == "Seen.add"
        del seen
        gc.collect()
        assert dispatcher.handlers() == []

    def test_nothing_keeps_weak_handler_alive(self) -> None:
        """Runs, their outcomes, handler records and logs hold no reference to the handler."""
        dispatcher, _ = started()
        owner = Owner()
        add(dispatcher, owner.on_event, "during")
        with structlog.testing.capture_logs() as logs:
            run = self.successResultOf(fire(dispatcher, 1))
            records = dispatcher.handlers()
            matches = dispatcher.matching_handlers()
        probe = weakref.ref(owner)
        del owner
        gc.collect()
        assert probe() is None
        assert run.outcomes[0].handler_name.endswith("Owner.on_event")
        assert logs
        assert records[0].handler_name == matches["during"][0].handler_name

    def test_collected_while_run_in_flight(self) -> None:
        """A weak handler collected while a run is in flight is not called in a later phase."""
        dispatcher, _ = started()
        gate: Deferred[None] = Deferred()
        keep = [lambda _e: gate]
        add(dispatcher, keep[0], "before")
        owner = Owner()
        add(dispatcher, owner.on_event, "after")
        d = fire(dispatcher)
        probe = weakref.ref(owner)
        del owner
        gc.collect()
        assert probe() is None
        gate.callback(None)
        run = result_of(d)
        assert [o.phase for o in run.outcomes] == ["before"]
        with pytest.warns(HandlerCollectedWarning, match="Owner.on_event"):
            assert len(dispatcher.handlers()) == 1

    def test_remove_after_collection(self) -> None:
        """Removing a handler whose referent was collected fails with UnknownHandlerError."""
        from twisted_event_dispatcher import UnknownHandlerError

        dispatcher, _ = started()
        owner = Owner()
        handler_id = add(dispatcher, owner.on_event, "during")
        del owner
        gc.collect()
        with pytest.warns(HandlerCollectedWarning, match="Owner.on_event"):
            removed = dispatcher.remove_event_handler(handler_id)
        self.failureResultOf(removed, UnknownHandlerError)

"""The built machines find their transitions by a dict lookup, and still refuse undefined pairs."""

from __future__ import annotations

from typing import Any, Protocol

import pytest
from automat import NoTransition, TypeMachine, TypeMachineBuilder
from automat._typed import TypedDataState, TypedState

from support import Recorder, add, fire, result_of, started
from twisted_event_dispatcher.machines import make_lifecycle_machine, make_run_machine
from twisted_event_dispatcher.machines._indexed import indexed


def test_a_run_compares_no_states(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs never compare automat states: the cost of an input is one lookup, whatever the seed.

    automat's own lookup scans every transition and compares the states with
    their dataclass ``__eq__`` until it meets the current one.
    """
    dispatcher, _ = started(phases=("one", "two", "three"))
    recorder = Recorder()
    add(dispatcher, recorder.deferred("h"), "two")
    add(dispatcher, recorder.sync("s"), "three")
    compared: list[object] = []
    for cls in (TypedState, TypedDataState):
        eq = cls.__eq__

        def counting(self: object, other: object, eq: object = eq) -> bool:
            compared.append(self)
            return eq(self, other)  # type: ignore[operator,no-any-return]

        monkeypatch.setattr(cls, "__eq__", counting)
    d = fire(dispatcher)
    recorder.pending["h"][0].callback(None)
    assert d.called
    assert recorder.names() == ["h", "s"]
    assert compared == []


def test_a_run_is_fed_without_automats_input_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    """step() feeds begin, settle and the phases' feedback from the index, not automat's methods.

    Each of automat's input methods costs three Python frames per input; the
    run goes through the same transitions (the test below checks the index
    against automat), so it ends the same way.
    """
    dispatcher, _ = started(phases=("one", "two", "three"))
    recorder = Recorder()
    add(dispatcher, recorder.deferred("h"), "two")
    add(dispatcher, recorder.sync("s"), "three")
    implementer = make_run_machine(("one", "two", "three"), ()).__automat_type__
    called: list[str] = []
    for name in ("begin", "settle", "phase_drained", "phase_failed"):
        method = getattr(implementer, name)

        def counting(self: object, *args: object, name: str = name, method: Any = method) -> Any:
            called.append(name)
            return method(self, *args)

        monkeypatch.setattr(implementer, name, counting)
    d = fire(dispatcher)
    recorder.pending["h"][0].callback(None)
    assert recorder.names() == ["h", "s"]
    assert result_of(d).status == "completed"
    assert called == []


def test_lookup_agrees_with_automat() -> None:
    """Every transition of the built machines is found as automat finds it."""
    machines: tuple[TypeMachine[Any, Any], ...] = (
        make_run_machine(("a", "b", "c"), ("b",)),
        make_run_machine(("a",)),
        make_lifecycle_machine(),
    )
    for machine in machines:
        automaton = machine.__automat_automaton__
        transitions = automaton.allTransitions()
        assert transitions
        for in_state, input_symbol, out_state, outputs in transitions:
            transitioner = machine(object()).__automat_transitioner__
            transitioner._state = in_state
            found_outputs, _ = transitioner.transition(input_symbol)
            assert transitioner._state is out_state
            assert list(found_outputs) == list(outputs)
            assert automaton.outputForInput(in_state, input_symbol) == (out_state, list(outputs))


class _Inputs(Protocol):
    def go(self) -> None:
        """Go."""

    def back(self) -> None:
        """Back."""


class _Core:
    pass


def test_undefined_pair_still_raises_no_transition() -> None:
    """A pair the machine does not define goes to automat's lookup, which raises NoTransition."""
    builder = TypeMachineBuilder(_Inputs, _Core)
    first = builder.state("first")
    second = builder.state("second")
    first.upon(_Inputs.go).to(second).returns(None)
    second.upon(_Inputs.back).to(first).returns(None)
    machine = indexed(builder.build())(_Core())
    machine.go()
    with pytest.raises(NoTransition):
        machine.go()
    machine.back()
    machine.go()

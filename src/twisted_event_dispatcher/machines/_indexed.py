"""A built automat machine whose transitions are looked up in a dict.

automat's :class:`~automat._core.Automaton` finds the transition for an input
by scanning all of them (a set, in hash order) and comparing ``(state,
input)`` pairs with the states' generated ``__eq__``: the cost of each input
grows with the machine, and differs from process to process with the hash
seed.  :func:`indexed` gives a built machine an automaton holding the same
transitions and keyed by ``(id(state), input name)``: the states are the
builder's own objects, kept alive by the automaton, so their ids are stable.
Anything the index does not hold goes to automat's own lookup, so an
undefined pair still raises :class:`~automat.NoTransition` as before.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from automat import TypeMachine
from automat._core import Automaton

if TYPE_CHECKING:
    from automat._typed import SomeOutput

__all__ = ["indexed"]

_State = TypeVar("_State", bound=Hashable)
_Input = TypeVar("_Input", bound=Hashable)
_Output = TypeVar("_Output", bound=Hashable)
_Inputs = TypeVar("_Inputs")
_Core = TypeVar("_Core")


class _IndexedAutomaton(Automaton[_State, _Input, _Output], Generic[_State, _Input, _Output]):
    """An :class:`Automaton` with the transitions of *built*, found by a dict lookup."""

    def __init__(self, built: Automaton[_State, _Input, _Output]) -> None:
        super().__init__(built.initialState)
        self._index: dict[tuple[int, _Input], tuple[_State, Sequence[_Output]]] = {}
        for in_state, input_symbol, out_state, outputs in built.allTransitions():
            self.addTransition(in_state, input_symbol, out_state, tuple(outputs))
            self._index[id(in_state), input_symbol] = (out_state, tuple(outputs))

    def outputForInput(
        self,
        inState: _State,  # noqa: N803
        inputSymbol: _Input,  # noqa: N803
    ) -> tuple[_State, Sequence[_Output]]:
        found = self._index.get((id(inState), inputSymbol))
        if found is None:
            return super().outputForInput(inState, inputSymbol)
        return found


def indexed(machine: TypeMachine[_Inputs, _Core]) -> TypeMachine[_Inputs, _Core]:
    """Return *machine* with its transitions indexed (see the module's docstring)."""
    automaton: Automaton[Any, str, SomeOutput] = machine.__automat_automaton__
    return TypeMachine(machine.__automat_type__, _IndexedAutomaton(automaton))

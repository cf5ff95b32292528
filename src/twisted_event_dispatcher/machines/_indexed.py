"""A built automat machine whose instances look their transitions up in a dict.

automat's :class:`~automat._core.Automaton` finds the transition for an input
by scanning all of them (a set, in hash order) and comparing ``(state,
input)`` pairs with the states' generated ``__eq__``: the cost of each input
grows with the machine, and differs from process to process with the hash
seed.  :func:`indexed` gives a built machine instances whose transitioner
holds the same transitions keyed by ``(id(state), input name)``: the states
are the builder's own objects, kept alive by the automaton, so their ids are
stable.  Anything the index does not hold (and any transition while a tracer
is set) goes to automat's own lookup, so an undefined pair still raises
:class:`~automat.NoTransition` as before.

Each entry also holds, when every output of its transition is a plain
method (no state data to build or pass), those methods themselves: a caller
that feeds the machine many inputs (``machines._run.step``) can then do
what automat's input method does (move the state, run the outputs with the
instance's re-entrant inputs postponed, then run those) without the three
Python frames automat spends on it per input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from automat import TypeMachine
from automat._core import Transitioner
from automat._typed import MethodOutput

__all__ = ["indexed"]

_Inputs = TypeVar("_Inputs")
_Core = TypeVar("_Core")

_new = object.__new__

_Index = dict[tuple[int, str], tuple[Any, Sequence[Any], tuple[Any, ...] | None]]
"""``(id(state), input) -> (next state, outputs, the outputs' plain methods or None)``."""


class _IndexedTransitioner(Transitioner[Any, str, Any]):
    """automat's transitioner, with its machine's transitions in :attr:`index`."""

    index: ClassVar[_Index] = {}
    """The machine's transitions (see :data:`_Index`)."""

    def transition(self, inputSymbol: str) -> tuple[Sequence[Any], Any]:  # noqa: N803
        """Move to the state *inputSymbol* leads to, and return the outputs to run."""
        if self._tracer is None:
            found = self.index.get((id(self._state), inputSymbol))
            if found is not None:
                self._state = found[0]
                return found[1], None
        return super().transition(inputSymbol)


@dataclass(frozen=True)
class _IndexedTypeMachine(TypeMachine[_Inputs, _Core], Generic[_Inputs, _Core]):
    """A :class:`TypeMachine` whose instances use an indexed transitioner."""

    transitioner: type[_IndexedTransitioner]

    def __call__(
        self,
        core: _Core,
        state: Any = None,
        dataFactory: Any = None,  # noqa: N803
    ) -> _Inputs:
        """Return a new instance on *core*, in the initial state (or as automat does)."""
        if state is not None:
            return super().__call__(core, state, dataFactory)
        # What the two classes' __init__ would set, without their two frames
        # (neither does more: automat's InputImplementer is a plain dataclass).
        automaton = self.__automat_automaton__
        transitioner = _new(self.transitioner)
        transitioner._automaton = automaton
        transitioner._state = automaton.initialState
        transitioner._tracer = None
        instance: Any = _new(self.__automat_type__)
        instance.__automat_core__ = core
        instance.__automat_transitioner__ = transitioner
        instance.__automat_data__ = None
        instance.__automat_postponed__ = None
        return instance  # type: ignore[no-any-return]


def _plain_methods(outputs: Sequence[Any]) -> tuple[Any, ...] | None:
    """The methods behind *outputs*, when each is called with the instance and core only."""
    if all(type(output) is MethodOutput and not output.requiresData for output in outputs):
        return tuple(output.method for output in outputs)
    return None


def indexed(machine: TypeMachine[_Inputs, _Core]) -> TypeMachine[_Inputs, _Core]:
    """Return *machine* with its transitions indexed (see the module's docstring)."""
    automaton = machine.__automat_automaton__
    index: _Index = {
        (id(in_state), input_symbol): (out_state, tuple(outputs), _plain_methods(outputs))
        for in_state, input_symbol, out_state, outputs in automaton.allTransitions()
    }
    transitioner = type("IndexedTransitioner", (_IndexedTransitioner,), {"index": index})
    return _IndexedTypeMachine(machine.__automat_type__, automaton, transitioner)

"""Hypothesis strategies for the dispatcher's property and model tests.

Match values come from a deliberately small domain, so that random specs and
random details agree often enough for the interesting cases (several shapes,
several handlers per bucket, wildcards) to happen in every run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final, Literal, TypeVar

from hypothesis import strategies as st

__all__ = [
    "CROSSING_SCALARS",
    "KEYWORDS",
    "MATCH_VALUES",
    "PHASE_NAMES",
    "RAISABLE_DUNDERS",
    "ROUTING_VALUES",
    "Boom",
    "HandlerPlan",
    "HostileSpec",
    "RoutingCase",
    "brute_force_matches",
    "corrupt_traces",
    "crossing_values",
    "details_dicts",
    "equal_variants",
    "handler_plans",
    "hostile_objects",
    "hostile_specs",
    "keyword_names",
    "keyword_sets",
    "make_hostile",
    "match_specs",
    "match_values",
    "maybe_hostile",
    "phase_lists",
    "routing_cases",
    "spec_matches",
    "trace_lines",
    "trace_records",
]

KEYWORDS: Final = ("a", "b", "c")
"""The match keywords every generated dispatcher allows."""

MATCH_VALUES: Final[tuple[Any, ...]] = (0, 1, 2, "x", "y")
"""The values specs and details draw from: ints and short strings, never equal across types."""

PHASE_NAMES: Final = ("before", "during", "after", "cleanup")
"""The phase names generated dispatchers choose from (in a generated order)."""

HandlerKind = Literal["sync", "deferred"]

_Id = TypeVar("_Id")


def match_values(values: Sequence[Any] = MATCH_VALUES) -> st.SearchStrategy[Any]:
    """Return a strategy for one match value from the small domain *values*."""
    return st.sampled_from(tuple(values))


def keyword_sets(keywords: Sequence[str] = KEYWORDS) -> st.SearchStrategy[frozenset[str]]:
    """Return a strategy for a set of *keywords* (possibly empty): a spec's shape."""
    return st.frozensets(st.sampled_from(tuple(keywords)))


def match_specs(
    keywords: Sequence[str] = KEYWORDS, values: Sequence[Any] = MATCH_VALUES
) -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for a match spec: keyword -> value, where None is a wildcard."""
    return st.dictionaries(
        st.sampled_from(tuple(keywords)),
        st.one_of(st.none(), match_values(values)),
        max_size=len(keywords),
    )


def details_dicts(
    keywords: Sequence[str] = KEYWORDS, values: Sequence[Any] = MATCH_VALUES
) -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for an event's details; a detail may itself be None."""
    return st.dictionaries(
        st.sampled_from(tuple(keywords)),
        st.one_of(match_values(values), st.just(None)),
        max_size=len(keywords),
    )


def phase_lists(
    names: Sequence[str] = PHASE_NAMES, *, min_size: int = 1
) -> st.SearchStrategy[tuple[str, ...]]:
    """Return a strategy for a dispatcher's phases: distinct names in a random order."""
    return st.lists(st.sampled_from(tuple(names)), min_size=min_size, unique=True).map(tuple)


@dataclass(frozen=True)
class HandlerPlan:
    """What to register: a handler's phase, spec and options (the handler is made later)."""

    phase: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    max_calls: int | None = None
    weak: bool = False
    kind: HandlerKind = "sync"


def handler_plans(
    phases: Sequence[str],
    keywords: Sequence[str] = KEYWORDS,
    values: Sequence[Any] = MATCH_VALUES,
    *,
    max_calls: bool = True,
    weak: bool = True,
    deferred: bool = True,
) -> st.SearchStrategy[HandlerPlan]:
    """Return a strategy for one registration plan in one of *phases*.

    The flags switch off the options a test does not model.
    """
    return st.builds(
        HandlerPlan,
        phase=st.sampled_from(tuple(phases)),
        spec=match_specs(keywords, values),
        max_calls=st.one_of(st.none(), st.integers(1, 3)) if max_calls else st.none(),
        weak=st.booleans() if weak else st.just(False),
        kind=st.sampled_from(("sync", "deferred")) if deferred else st.just("sync"),
    )


def spec_matches(spec: Mapping[str, Any], details: Mapping[str, Any]) -> bool:
    """Return whether *details* satisfy *spec*, by the documented rule, without an index."""
    return all(
        value is None or (key in details and details[key] == value) for key, value in spec.items()
    )


def brute_force_matches(
    phases: Sequence[str],
    registered: Sequence[tuple[_Id, str, Mapping[str, Any]]],
    details: Mapping[str, Any],
) -> dict[str, list[_Id]]:
    """Return, per phase in phase order, the ids in *registered* (in its order) *details* match.

    *registered* lists ``(id, phase, spec)`` in registration order.
    """
    return {
        phase: [
            handler_id
            for handler_id, handler_phase, spec in registered
            if handler_phase == phase and spec_matches(spec, details)
        ]
        for phase in phases
    }


# -- values that cross processes (the cluster's routing) ------------------------------------------

CROSSING_SCALARS: Final[tuple[Any, ...]] = (
    0,
    1,
    -1,
    2,
    0.0,
    -0.0,
    1.0,
    2.0,
    0.5,
    -0.5,
    True,
    False,
    math.inf,
    -math.inf,
    2**64,
    float(2**64),
    2**64 + 1,
    "",
    "0",
    "1",
    "a",
    "n:1",
    b"",
    b"1",
    b"a",
)
"""Scalars that cross processes, with many that Python calls equal across types (1, 1.0, True)."""

ROUTING_VALUES: Final[tuple[Any, ...]] = (
    0,
    1,
    2,
    0.0,
    1.0,
    0.5,
    True,
    False,
    "1",
    "a",
    b"a",
    (),
    (1, "a"),
    (True, "a"),
    (1.0, "a"),
    ("a",),
    "x" * 300,  # headers routing sends values past 256 bytes as hashes
    "x" * 299 + "y",
)
"""The small mixed domain routing properties draw spec and detail values from."""


def crossing_values() -> st.SearchStrategy[Any]:
    """Return a strategy for a value that may cross processes: scalars and nested tuples."""
    scalars = st.one_of(
        st.sampled_from(CROSSING_SCALARS),
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.text(st.characters(codec="utf-8"), max_size=8),
        st.binary(max_size=8),
    )
    return st.recursive(
        scalars, lambda children: st.lists(children, max_size=3).map(tuple), max_leaves=8
    )


def _equal_scalars(value: Any) -> list[Any]:
    """Return values of other types that Python calls equal to the scalar *value*."""
    variants = [value]
    if type(value) in {int, bool} and abs(value) < 2**53:
        variants.append(float(value))
    if type(value) is float and value.is_integer():
        variants.append(int(value))
    if type(value) in {int, float} and value in {0, 1}:
        variants.append(bool(value))
    return variants


def equal_variants(value: Any) -> st.SearchStrategy[Any]:
    """Return a strategy for values equal to *value*, of the same or other numeric types."""
    if type(value) is tuple:
        if not value:
            return st.just(())
        return st.tuples(*(equal_variants(item) for item in value))
    return st.sampled_from(_equal_scalars(value))


def keyword_names(*, max_size: int = 6) -> st.SearchStrategy[list[str]]:
    """Return a strategy for distinct match keyword names (any valid Unicode)."""
    name = st.text(st.characters(codec="utf-8"), min_size=1, max_size=10)
    return st.lists(name, unique=True, max_size=max_size)


@dataclass(frozen=True)
class RoutingCase:
    """Allowed keywords, in the order a node lists them, with a spec and an event's details."""

    keywords: list[str]
    spec: dict[str, Any]
    details: dict[str, Any]


@st.composite
def routing_cases(draw: st.DrawFn, values: Sequence[Any] = ROUTING_VALUES) -> RoutingCase:
    """Return random keywords, and a spec and details over them from the domain *values*.

    Specs and details share a small domain so that they often match; either
    may hold None (a wildcard, an absent detail) or leave a keyword out.
    """
    keywords = draw(keyword_names())
    value = st.one_of(st.none(), st.sampled_from(tuple(values)))
    if keywords:
        spec = draw(st.dictionaries(st.sampled_from(keywords), value))
        details = draw(st.dictionaries(st.sampled_from(keywords), value))
    else:
        spec, details = {}, {}
    return RoutingCase(keywords, spec, details)


# -- corrupt traces, for the tedtool fuzz test -------------------------------------------

_TRACE_EVENTS: Final = (
    "run_created",
    "phase_entered",
    "handler_called",
    "handler_settled",
    "phase_completed",
    "run_ended",
    "run_dropped",
    "run_rejected",
)
_RUN_IDS: Final = ("r1", "r2", "r3")
"""A few run ids, so that records meet: parents, self-parents, cycles, second ends."""
_FIELDS: Final = (
    "parent_run_id",
    "parent_handler_id",
    "parent_handler_name",
    "event_type",
    "details",
    "phase",
    "handler_id",
    "handler_name",
    "status",
    "duration",
    "exception_type",
    "exception_message",
    "failed",
)


def _json_values() -> st.SearchStrategy[Any]:
    """Any JSON value: scalars, and lists and objects of them."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _field_values() -> st.SearchStrategy[Any]:
    """A record field's value: a likely one, one of the wrong type, a huge or a deep one."""
    return st.one_of(
        st.sampled_from(_RUN_IDS),
        st.sampled_from(("before", "during", "failed", "completed", "h", 1, 0.5, True)),
        _json_values(),
        st.integers(1, 100_000).map(lambda n: "v" * n),
        st.integers(1, 10**300).map(lambda n: n * 10),
        st.text(alphabet="\n\r\t\x1b\u202e\x00\ud800x", max_size=30),
        st.integers(1, 400).map(_nested),
    )


def trace_records() -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for one trace record: a few fields, each of any type."""
    return st.builds(
        lambda head, fields: {**head, **fields},
        st.fixed_dictionaries(
            {
                "event": st.one_of(st.sampled_from(_TRACE_EVENTS), _json_values()),
                "run_id": st.one_of(st.sampled_from(_RUN_IDS), _json_values()),
            }
        ),
        st.dictionaries(st.sampled_from(_FIELDS), _field_values(), max_size=4),
    )


def _encoded(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def trace_lines(draw: st.DrawFn) -> bytes:
    """Return one line of a corrupt trace (without its newline): a record, whole or damaged."""
    kind = draw(st.sampled_from(("record", "truncated", "garbled", "bytes", "deep", "digits")))
    if kind == "bytes":
        return draw(st.binary(max_size=300)).replace(b"\n", b" ")
    if kind == "digits":  # an integer longer than Python converts from text
        return b'{"event": "handler_called", "run_id": "r1", "handler_id": ' + b"9" * 5_000 + b"}"
    if kind == "deep":
        depth = draw(st.integers(1, 200_000))
        run_id = draw(st.sampled_from(_RUN_IDS))
        head = f'{{"event": "run_created", "run_id": "{run_id}", "details": {{"a": '.encode()
        return head + b"[" * depth + b"]" * depth + b"}}"
    line = _encoded(draw(trace_records()))
    if kind == "truncated":
        return line[: draw(st.integers(0, len(line)))]
    if kind == "garbled":
        index = draw(st.integers(0, len(line) - 1))
        byte = draw(st.integers(0, 255))
        return line[:index] + bytes([byte]) + line[index + 1 :]
    return line


def _chain(depth: int) -> list[bytes]:
    """A valid chain of *depth* runs, each fired by the one before."""
    created = [
        _encoded({"event": "run_created", "run_id": f"c{n}", "parent_run_id": f"c{n - 1}"})
        for n in range(depth)
    ]
    ended = [
        _encoded({"event": "run_ended", "run_id": f"c{n}", "status": "completed"})
        for n in reversed(range(depth))
    ]
    return created + ended


@st.composite
def corrupt_traces(draw: st.DrawFn) -> bytes:
    """Return the bytes of a corrupt trace: damaged lines, and maybe a very deep chain of runs."""
    lines = draw(st.lists(trace_lines(), max_size=15))
    depth = draw(st.sampled_from((0, 0, 3, 1_200)))
    if depth:
        at = draw(st.integers(0, len(lines)))
        lines[at:at] = _chain(depth)
    ending = draw(st.sampled_from((b"\n", b"")))
    return b"\n".join(lines) + ending


# -- hostile objects ----------------------------------------------------------------------
#
# Objects whose dunders raise, as user code may hand them to the dispatcher: as
# arguments, events, detail and match values, handler callables and handler
# exceptions.  The property test in tests/runtime/test_hostile.py throws them at
# every public method.


class Boom(Exception):
    """What every hostile dunder raises: never a ValueError or TypeError, so none passes as one."""


def _raise(*args: object) -> Any:
    raise Boom("a hostile dunder was called")


RAISABLE_DUNDERS: Final = (
    "__repr__",
    "__str__",
    "__eq__",
    "__hash__",
    "__bool__",
    "__len__",
    "__iter__",
    "__lt__",
    "__float__",
    "__getattr__",
    "__module__",
)
"""The dunders a hostile object may have raise.

``__getattr__`` raising stands for a raising ``__qualname__`` (and any other
attribute looked up with a default): a class cannot hold a ``__qualname__``
property, but a proxy's ``__getattr__`` answers for it.  ``__module__`` is a
property that raises.
"""

HashMode = Literal["raises", "collides", "own"]


@dataclass(frozen=True)
class HostileSpec:
    """How to build one hostile object."""

    base: type
    """``object``, ``str``, ``int``, ``list``, ``Fraction`` or ``Exception``."""
    raising: frozenset[str]
    """Which of :data:`RAISABLE_DUNDERS` raise."""
    hash_mode: HashMode
    """Whether ``__hash__`` raises, returns the hash of :attr:`value` (colliding with it), or
    is the base's own; ``raises`` also in :attr:`raising` wins."""
    value: Any
    """What the base is built from; a detail or spec value it collides with."""


_NAMESPACE_RAISERS: Final = frozenset(RAISABLE_DUNDERS) - {"__hash__", "__module__"}


def make_hostile(spec: HostileSpec) -> Any:
    """Build the object *spec* describes (a new class each time)."""
    namespace: dict[str, Any] = dict.fromkeys(spec.raising & _NAMESPACE_RAISERS, _raise)
    if "__module__" in spec.raising:
        namespace["__module__"] = property(_raise)
    if "__eq__" in spec.raising:
        namespace["__ne__"] = _raise
    if "__hash__" in spec.raising or spec.hash_mode == "raises":
        namespace["__hash__"] = _raise
    elif spec.hash_mode == "collides":
        collide = hash(spec.value)
        namespace["__hash__"] = lambda self: collide
    else:
        namespace["__hash__"] = spec.base.__hash__
    cls = type(f"Hostile{spec.base.__name__.title()}", (spec.base,), namespace)
    if spec.base is object:
        return cls()
    if spec.base is list:
        return cls(spec.value if isinstance(spec.value, (list, tuple)) else [spec.value])
    if spec.base is Exception:
        return cls("hostile")
    if spec.base is Fraction:
        return cls(spec.value if isinstance(spec.value, int) else 2)
    return cls(spec.value)


def hostile_specs(
    bases: Sequence[type] = (object,), values: Sequence[Any] = MATCH_VALUES
) -> st.SearchStrategy[HostileSpec]:
    """Return a strategy for the recipe of a hostile object of one of *bases*."""
    return st.builds(
        HostileSpec,
        base=st.sampled_from(tuple(bases)),
        raising=st.frozensets(st.sampled_from(RAISABLE_DUNDERS), min_size=1),
        hash_mode=st.sampled_from(("raises", "collides", "own")),
        value=st.sampled_from(tuple(values)),
    )


def hostile_objects(
    bases: Sequence[type] = (object,), values: Sequence[Any] = MATCH_VALUES
) -> st.SearchStrategy[Any]:
    """Return a strategy for hostile objects of one of *bases*, built from one of *values*."""
    return hostile_specs(bases, values).map(make_hostile)


def maybe_hostile(
    plain: st.SearchStrategy[Any],
    bases: Sequence[type] = (object,),
    values: Sequence[Any] = MATCH_VALUES,
) -> st.SearchStrategy[Any]:
    """Return a strategy for a plain value from *plain*, or a hostile object."""
    return st.one_of(plain, hostile_objects(bases, values))
